"""Test helpers that ship with the gateway (like structlog.testing): a complete gateway in a
temporary home with the demo region, a test token issuer, and in-memory sources.

    gw = make_test_gateway(tmp_path)
    r = gw.client.post("/v1/disclosures", json={...}, headers=gw.auth("politie-wijkagent"))
    gw.close()
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.interface import Connector
from connectors.memory import InMemoryConnector
from gateway.api.app import create_app
from gateway.auth.clients import AuthlibClient, verified_client
from gateway.auth.principal import Principal
from gateway.catalog import Catalog
from gateway.demo.region import region
from gateway.demo.seed import open_case, seed, source_records
from gateway.errors import EngineError
from gateway.keys import init_keys, keys_exist
from gateway.ledger.entry import Facts, Outcome
from gateway.ledger.stores import LedgerStore, StoredEntry
from gateway.ledger.writer import Record
from gateway.policy.bundle import load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import PolicyEngine
from gateway.runtime import Gateway, build_gateway
from gateway.settings import Settings
from gateway.typing import STAGES


class InstrumentedEngine:
    """A fake engine around a real one: counts evaluations, stalls those ``stall`` picks
    (e.g. one requester's), to show that an overrun holds no one else up, and fails those
    ``fail`` picks with :class:`EngineError`."""

    def __init__(
        self,
        inner: PolicyEngine,
        stall: Callable[[Mapping[str, Any]], bool] = lambda _input: False,
        stall_seconds: float = 5.0,
        fail: Callable[[Mapping[str, Any]], bool] = lambda _input: False,
    ) -> None:
        self._inner = inner
        self._stall = stall
        self._stall_seconds = stall_seconds
        self._fail = fail
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def version(self) -> str:
        return self._inner.version

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        with self._lock:
            self.calls += 1
        if self._stall(policy_input):
            time.sleep(self._stall_seconds)
        if self._fail(policy_input):
            raise EngineError("injected engine failure")
        return self._inner.evaluate(policy_input)


TEST_AUDITOR_PASSPHRASE = b"test-auditor-passphrase"  # synthetic test homes only


def rows_pass_the_fast_path(rows: Sequence[Sequence[Any]], key: Ed25519PublicKey) -> bool:
    """Whether every one of ``rows`` (every ledger_entry column, table order; consecutive)
    passes the Python verifier's fast path, linked to the row before: what a span the compiled
    or PostgreSQL scan calls sound must satisfy (tests/ledger/test_spanscan.py, test_pgscan.py)."""
    from gateway.ledger.tables import ENTRY_AT
    from gateway.ledger.verify import row_is_sound

    prev = None
    expected = rows[0][ENTRY_AT["seq"]] if rows else 0
    for row in rows:
        if not row_is_sound(row, expected, prev, key):
            return False
        prev, expected = row[ENTRY_AT["entry_hash"]], expected + 1
    return True


def memory_connectors(catalog: Catalog, *, local: bool = True) -> dict[str, InMemoryConnector]:
    """One in-memory source per catalogue source, holding the demo region's records
    (``local=False``: fetched on each source's lane, as a source on the network is)."""
    return {
        s: InMemoryConnector(s, source_records(catalog, s), local=local) for s in catalog.sources
    }


@dataclass
class TestGateway:
    __test__ = False  # a helper, not a pytest test class

    gateway: Gateway
    client: TestClient
    case_ids: Mapping[str, str]
    connectors: Mapping[str, Connector]
    seeded: int = 0
    """Ledger entries written by seeding the demo region (case creation, links, stages)."""

    def new_entries(self) -> list[StoredEntry]:
        """Ledger entries written since the demo region was seeded."""
        return [e for e in self.gateway.store.entries() if e.seq > self.seeded]

    def token(self, client_id: str) -> str:
        """The test token issuer: a real signed token for a registered client."""
        row = verified_client(self.gateway.db, self.gateway.seals, client_id)
        if row is None:
            raise KeyError(f"no registered client {client_id!r}")
        return str(self.gateway.token_generator.mint(AuthlibClient(row))["access_token"])

    def principal(self, client_id: str) -> Principal:
        """The requester a token of this client stands for (for calling services directly)."""
        return self.gateway.token_verifier.verify(self.token(client_id))

    def auth(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}"}

    def auditor_key(self) -> X25519PrivateKey:
        """The auditor's private key from the test home's auditor directory."""
        from gateway.keys import AUDITOR_PRIVATE, load_auditor_private

        path = self.gateway.settings.resolved_auditor_dir / AUDITOR_PRIVATE
        return load_auditor_private(path, TEST_AUDITOR_PASSPHRASE)

    def ledgered(self, entry_hash: str) -> dict[str, Any]:
        """The auditor's view of one ledger entry: its opened body (with the test home's
        auditor key, from the auditor directory the server never reads)."""
        from gateway.ledger.periods import open_entry

        store = self.gateway.store
        entry = next(e for e in store.entries() if e.entry_hash == entry_hash)
        body: dict[str, Any] = json.loads(open_entry(store, entry, self.auditor_key()))
        return body

    def close(self) -> None:
        self.client.close()
        self.gateway.close()


def sample_policy_input(
    source: str = "politie.incidenten", *, minor: bool = False, relation: str = "ex_partner"
) -> dict[str, Any]:
    """A complete policy input (docs/policy-input.md): the demo municipality's procesregisseur
    asking about a linked person in an MDA++ case at casusoverleg."""
    regie = "00000099000000000001"
    return {
        "requester": {
            "verified": True,
            "oin": regie,
            "org_type": "gemeente",
            "role": "procesregisseur",
            "user": "u",
        },
        "case": {
            "found": True,
            "id": "c",
            "status": "open",
            "stage": "casusoverleg",
            "purpose": "mda_plus_plus",
            "participants": [regie],
        },
        "subject": {"linked": True, "relation": relation, "minor": minor, "consents": []},
        "request": {"source": source, "fields": [], "urgency": "regulier", "justified": False},
    }


OBSERVED: set[tuple[str, str, int]] = set()
"""(method, path, status) of every response a test gateway's client received in this process;
tests compare it with what the OpenAPI document promises."""


def _observe(response: Any) -> None:
    OBSERVED.add((response.request.method, response.request.url.path, response.status_code))


def sample_record(n: int = 0, outcome: Outcome = "permit") -> Record:
    """A synthetic ledger record, distinct per ``n``, for ledger tests on any store."""
    facts = Facts(
        action="disclosure.decision",
        policy_version="sha256:test",
        requester_oin="00000099000000000001",
        purpose="mda_plus_plus",
        case_id=f"case-{n:04d}",
        outcome=outcome,
        review=False,
    )
    return Record(
        facts,
        subject="ab" * 32,
        body={"decisions": [{"source": "gemeente.brp", "fields": {"naam": "plain"}}], "n": n},
    )


def synthetic_bsn(n: int) -> str:
    """The ``n``-th synthetic BSN (0 <= n < 10^6; test data only, never the demo persons'):
    a prefix and ``n`` as eight digits, the ninth chosen to pass the elfproef — with the next
    prefix where that digit would be 10, so every ``n`` has its own number."""
    for prefix in ("96", "95", "94"):
        head = f"{prefix}{n:06d}"
        check = sum(w * int(d) for w, d in zip((9, 8, 7, 6, 5, 4, 3, 2), head, strict=True)) % 11
        if check < 10:
            return head + str(check)
    raise ValueError(f"no synthetic BSN for {n}")  # pragma: no cover - two prefixes suffice


def demo_bsn(person: str) -> str:
    """The test BSN of a demo person, by key (e.g. ``mda.ex_partner``)."""
    return region().persons[person].bsn


def make_test_gateway(
    home: Path,
    *,
    connectors: Mapping[str, Connector] | None = None,
    engine: PolicyEngine | Callable[[PolicyEngine], PolicyEngine] | None = None,
    passphrase: str | None = None,
    store: LedgerStore | None = None,
    **settings: Any,
) -> TestGateway:
    """A seeded demo gateway in ``home``; ``settings`` override :class:`Settings` fields;
    ``store`` replaces the ledger store (e.g. a :class:`MemoryStore` told to fail)."""
    settings.setdefault("policy_mode", "development")  # tests of bundles pass one
    config = Settings(
        home=home, key_passphrase=SecretStr(passphrase) if passphrase else None, **settings
    )
    if not keys_exist(config.keys_dir):
        init_keys(
            config.keys_dir,
            passphrase.encode() if passphrase else None,
            auditor_dir=config.resolved_auditor_dir,
            auditor_passphrase=TEST_AUDITOR_PASSPHRASE,
        )
    catalog = Catalog(load_policy_set(config.resolved_policy_dir).catalog)
    chosen = connectors if connectors is not None else memory_connectors(catalog)
    if callable(engine):  # a wrapper around the real engine, e.g. InstrumentedEngine
        engine = engine(EmbeddedEngine(load_policy_set(config.resolved_policy_dir)))
    gw = build_gateway(config, connectors=chosen, engine=engine, store=store)
    case_ids = seed(gw, config.var_dir / "demo-secrets.json")
    seeded = gw.store.count()
    # NOTE: a loopback peer: client secrets are accepted only over TLS or from loopback.
    client = TestClient(
        create_app(gw),
        base_url="http://127.0.0.1",
        raise_server_exceptions=False,
        client=("127.0.0.1", 50000),
    )
    client.event_hooks["response"].append(_observe)
    return TestGateway(
        gateway=gw, client=client, case_ids=case_ids, connectors=chosen, seeded=seeded
    )


@dataclass(frozen=True)
class ServedDemo:
    """A `gateway demo` running as its own process (see :func:`served_demo`)."""

    base: str
    """The API's base URL, e.g. http://127.0.0.1:43123/v1"""
    home: Path

    @property
    def secrets(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads((self.home / "var" / "demo-secrets.json").read_text())
        return doc


GATEWAY_COMMAND = [sys.executable, "-c", "from gateway.cli import main; main()"]
"""The `gateway` command as a child process (no console script needed)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed_demo_home(home: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`gateway demo --no-serve`: keys, the demo region and its source files in ``home``;
    returns the demo secrets (client secrets and case ids)."""
    subprocess.run(  # noqa: S603 - a fixed argv, no shell
        [*GATEWAY_COMMAND, "demo", "--home", str(home), "--no-serve"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUTF8": "1", **(env or {})},
    )
    doc: dict[str, Any] = json.loads((home / "var" / "demo-secrets.json").read_text())
    return doc


def demo_case_copies(gw: Gateway, key: str, n: int) -> list[str]:
    """N more cases like the demo case ``key``: its purpose, participants and stage, its people
    linked alike (for benchmarks of traffic about many cases). Returns their ids."""
    demo = region()
    return [open_case(gw, demo, demo.cases[key]) for _ in range(n)]


def start_gateway(
    args: list[str],
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    within: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start `gateway ARGS --port PORT`; see :func:`start_server`."""
    return start_server([*GATEWAY_COMMAND, *args], port, log, env, within)


def start_server(
    argv: list[str],
    port: int,
    log: Path,
    env: Mapping[str, str] | None = None,
    within: float = 60.0,
) -> subprocess.Popen[bytes]:
    """Start ``ARGV --port PORT`` and return once /v1/health answers there. Its log goes to
    ``log`` (appended), never to an unread pipe: once a pipe's buffer is full the server
    blocks on its next log line. A server that exits or does not come up is an error naming
    the end of its log."""
    with log.open("ab") as sink:
        proc = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            [*argv, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, "PYTHONUTF8": "1", **(env or {})},
        )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the server did not come up within {within:.0f} s")


def stop_server(proc: subprocess.Popen[bytes], within: float = 15.0) -> int | None:
    """SIGTERM, as a service manager would; killed if it does not stop in time."""
    proc.terminate()
    try:
        return proc.wait(timeout=within)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


@contextlib.contextmanager
def served_demo(home: Path, env: Mapping[str, str] | None = None) -> Iterator[ServedDemo]:
    """Run the README's first command (`gateway demo`) on a free loopback port until the block
    ends; the server is stopped with SIGTERM, as a service manager would."""
    port = free_port()
    proc = start_gateway(["demo", "--home", str(home)], port, home / "server.log", env)
    try:
        yield ServedDemo(f"http://127.0.0.1:{port}/v1", home)
    finally:
        stop_server(proc)


_WRITER = """
import sys, time
from cryptography.hazmat.primitives import serialization
from gateway.db import create_schema, make_engine
from gateway.ledger.stores import store_for
from gateway.ledger.writer import Ledger
from gateway.testing import sample_record

url, n, offset, signing_pem, auditor_pem, start_at = sys.argv[1:7]
signing = serialization.load_pem_private_key(signing_pem.encode(), None)
auditor = serialization.load_pem_public_key(auditor_pem.encode())
engine = make_engine(url)
while time.time() < float(start_at):  # every writer starts at the same moment
    pass
create_schema(engine)
ledger = Ledger(store_for(engine), signing, auditor)
for i in range(int(n)):
    ledger.append(sample_record(int(offset) + i))
"""


def run_writers(url: str, processes: int, appends: int) -> Ed25519PrivateKey:
    """Start ``processes`` gateway-like writer processes at the same moment on the (possibly
    not yet created) ledger at ``url``, each appending ``appends`` records (case ids
    ``case-{100 * writer + i}``); wait for them. Returns the ledger-signing key they used."""
    from cryptography.hazmat.primitives import serialization

    signing, auditor = Ed25519PrivateKey.generate(), X25519PrivateKey.generate()
    signing_pem = signing.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    auditor_pem = (
        auditor.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    keys = [signing_pem, auditor_pem, str(time.time() + 4)]
    writers = [
        subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            [sys.executable, "-c", _WRITER, url, str(appends), str(100 * w), *keys],
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(processes)
    ]
    failures = []
    for w in writers:
        _, err = w.communicate(timeout=180)
        if w.returncode != 0:
            failures.append(err.strip()[-1500:] if err.strip() else str(w.returncode))
    if failures:
        raise AssertionError(f"writer processes failed: {failures}")
    return signing


_OINS = ["00000099000000000001", "00000099000000000002", "00000099000000000008"]
_WRONG: list[Any] = [None, 0, 1.5, "", "x", [], ["x"], {}, {"a": 1}, True]


def policy_inputs(catalog: Catalog, *, malformed: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """Policy inputs for differential tests: every member drawn from the real domain (so valid
    inputs reach every branch), then (``malformed``) some members or whole parts dropped, made
    null or given the wrong type."""
    domain: dict[tuple[str, str], list[Any]] = {
        ("requester", "verified"): [True, False],
        ("requester", "oin"): _OINS,
        ("requester", "org_type"): sorted(catalog.org_types),
        ("requester", "role"): sorted(catalog.roles),
        ("case", "found"): [True, False],
        ("case", "status"): ["open", "closed"],
        ("case", "stage"): list(STAGES),
        ("case", "purpose"): [*sorted(catalog.purposes), "onbekend_doel"],
        ("case", "participants"): [_OINS, _OINS[:1], _OINS[1:], []],
        ("subject", "linked"): [True, False],
        ("subject", "relation"): ["hoofdpersoon", "ex_partner", "kind"],
        ("subject", "minor"): [True, False],
        ("subject", "consents"): [
            [],
            ["ggz.behandeling"],
            ["ggz.behandeling", "gemeente.wijkteam"],
        ],
        ("request", "source"): [*sorted(catalog.sources), "onbekende.bron"],
        ("request", "fields"): [[], ["naam"], ["crisiskaart_contact", "diagnose"]],
        ("request", "urgency"): ["regulier", "spoed"],
        ("request", "justified"): [True, False],
    }

    @st.composite
    def draw_input(draw: st.DrawFn) -> dict[str, Any]:
        inp: dict[str, Any] = copy.deepcopy(sample_policy_input())
        for (part, member), values in domain.items():
            inp[part][member] = draw(st.sampled_from(values))
        for _ in range(draw(st.integers(0, 3)) if malformed else 0):
            part = draw(st.sampled_from(sorted(inp)))
            action = draw(st.sampled_from(["drop", "wrong", "drop_part", "wrong_part"]))
            if action == "drop_part":
                inp.pop(part, None)
            elif action == "wrong_part":
                # A copy: the shared sample must not be changed by a later "wrong" member
                # (that once made an input contain itself).
                inp[part] = copy.deepcopy(draw(st.sampled_from(_WRONG)))
            elif isinstance(inp.get(part), dict) and inp[part]:
                member = draw(st.sampled_from(sorted(inp[part])))
                if action == "drop":
                    del inp[part][member]
                else:
                    inp[part][member] = copy.deepcopy(draw(st.sampled_from(_WRONG)))
        return inp

    return draw_input()


CONSOLE_USERS = {
    # The demo's synthetic console users (gateway/demo/data/console-users.yaml).
    "privacy.officer": "demo-officer-2026",
    "auditor": "demo-auditor-2026",
    "dpo": "demo-dpo-2026",
    "no.role": "demo-norole-2026",
}
CONSOLE_URL = "https://gateway.test"


def make_console_gateway(home: Path, **settings: Any) -> TestGateway:
    """A test gateway with the consoles and the local OpenID provider, served as
    ``https://gateway.test`` (so the consoles' Secure cookies travel in the test client)."""
    settings = {"console_local_provider": True, "public_url": CONSOLE_URL, **settings}
    return make_test_gateway(home, **settings)


def console_client(gw: TestGateway) -> TestClient:
    """A browser-like client of ``gw``'s consoles: its own cookie jar, the console's origin."""
    return TestClient(
        gw.client.app,
        base_url=gw.gateway.settings.resolved_public_url,
        raise_server_exceptions=False,
        client=("127.0.0.1", 50001),
    )


def console_sign_in(client: TestClient, username: str) -> httpx.Response:
    """Sign ``username`` in through the local provider's form, as a browser does."""
    import html
    import re

    start = client.get("/console/login", follow_redirects=False)
    page = client.get(start.headers["location"])
    form = {k: html.unescape(v) for k, v in re.findall(r'name="(\w+)" value="([^"]*)"', page.text)}
    form.update(username=username, password=CONSOLE_USERS[username])
    answer = client.post("/local-idp/authorize", data=form, follow_redirects=False)
    landed: httpx.Response = client.get(answer.headers["location"], follow_redirects=True)
    return landed


def console_csrf(page: str) -> str:
    """The CSRF token a console page's forms carry."""
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', page)
    if found is None:
        raise AssertionError("the page has no form with a CSRF token")
    return found.group(1)
