"""Wiring: build a running gateway's parts from :class:`Settings` (the edge that does I/O)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import Connection, Engine, insert, text

from connectors.interface import Connector
from connectors.sql import SqlConnector
from gateway.auth.server import TokenServer
from gateway.auth.throttle import FailureWindow, Throttle
from gateway.auth.tokens import TokenGenerator, TokenVerifier, signing_jwk
from gateway.bsn import Pseudonymiser
from gateway.cases.registry import CaseRegistry
from gateway.catalog import Catalog
from gateway.clock import iso_now
from gateway.console.tables import policy_activation
from gateway.db import create_schema, make_engine
from gateway.disclosure import DisclosureService, Lanes
from gateway.errors import (
    ConfigurationError,
    EngineError,
    GatewayError,
    KeyUnavailable,
    PolicyUnavailable,
)
from gateway.files import write_private
from gateway.keys import (
    AUDITOR_PSEUDONYM,
    AUDITOR_PUBLIC,
    POLICY_PUBLIC,
    SIGNAL_PSEUDONYM,
    KeyRing,
    load_keyring,
    load_ledger_public,
    read_signal_keys,
    seal_pseudonym_key,
)
from gateway.keystate import check_fingerprints, fingerprints
from gateway.lanes import Lane, LaneFull
from gateway.ledger.batcher import GroupCommitter
from gateway.ledger.checkpoint import Checkpoint, CheckpointDir
from gateway.ledger.integrity import (
    check_startup,
    last_auditor_key_id,
    new_checkpoint,
    policy_in_force,
)
from gateway.ledger.sealing import key_id
from gateway.ledger.stores import LedgerStore, store_for
from gateway.ledger.writer import Ledger, Record, append_with
from gateway.policy.bundle import PolicySet, load_policy_set
from gateway.policy.embedded import EmbeddedEngine
from gateway.policy.engine import PolicyEngine
from gateway.policy.explain import dry_run
from gateway.policy.memo import MemoEngine
from gateway.policy.signing import MAX_BUNDLE_BYTES, describe, file_digest, open_bundle
from gateway.policy.snapshot import ActivePolicy, PolicySnapshot
from gateway.rowseals import RowSeals
from gateway.sealcheck import check_registry
from gateway.settings import Settings
from gateway.signals.cases import SignalCases
from gateway.signals.pseudonyms import SignalKeys
from gateway.signals.rotation import check_signal_keys
from gateway.signals.service import SignalService
from gateway.signals.store import KeyHolder
from gateway.signals.webhooks import WebhookDispatcher

log = structlog.get_logger(__name__)


@dataclass
class Gateway:
    settings: Settings
    db: Engine
    keys: KeyRing
    active: ActivePolicy
    store: LedgerStore
    ledger: Ledger
    cases: CaseRegistry
    disclosures: DisclosureService
    token_generator: TokenGenerator
    token_verifier: TokenVerifier
    token_server: TokenServer
    checkpoints: CheckpointDir
    throttle: Throttle
    signals: SignalService
    signal_cases: SignalCases
    webhooks: WebhookDispatcher
    auth_lane: Lane
    """Secret checks (scrypt, ~45 ms each) run here, off the event loop."""
    seals: RowSeals
    """The registry rows' seals (ADR 0017): whatever writes a sealed row seals it."""
    refused_bundle: str | None = None
    """The digest of the last policy bundle refused on reload (not tried again until it changes)."""
    _reloading: threading.Lock = field(default_factory=threading.Lock)
    _superseded_by: str | None = None

    def superseded(self, in_force: str) -> None:
        """The ledger refused a decision: another process (or a reload) activated ``in_force``.
        Load it now rather than at the next poll; until then this process's decisions are
        refused (503, Retry-After), never recorded under the old version."""
        if self.active.current.version == in_force or not self._reloading.acquire(blocking=False):
            return
        if self._superseded_by != in_force:  # once per version, not once per request
            self._superseded_by = in_force
            log.warning("policy.superseded", in_force=in_force, serving=self.active.current.version)
            if self.settings.policy_bundle is None:
                log.error(
                    "policy.superseded_unloadable",
                    note="no GATEWAY_POLICY_BUNDLE to load the version in force from; restart",
                )

        def reload() -> None:
            try:
                self.reload_policy()
            finally:
                self._reloading.release()

        threading.Thread(target=reload, name="policy-reload", daemon=True).start()

    @property
    def policy(self) -> PolicySet:
        return self.active.current.policy

    @property
    def catalog(self) -> Catalog:
        return self.active.current.catalog

    @property
    def engine(self) -> PolicyEngine:
        return self.active.current.engine

    async def dry_run(self, policy_input: Mapping[str, Any]) -> dict[str, Any]:
        """A hypothetical request through the policy in force, on a policy worker (the API's
        dry run and the officers' console). Fails as PolicyUnavailable, never with the
        engine's own text."""
        try:
            result: dict[str, Any] = await self.disclosures.lanes.policy.run(
                dry_run,
                self.active.current,
                policy_input,
                timeout=self.settings.policy_timeout_seconds * 3,
                queue_timeout=self.settings.policy_queue_timeout_seconds,
            )
        except (TimeoutError, LaneFull) as exc:
            raise PolicyUnavailable("the policy could not evaluate the dry run in time") from exc
        except EngineError as exc:  # the engine's text stays in the log, not in the answer
            raise PolicyUnavailable("the policy engine could not evaluate the dry run") from exc
        return result

    def reload_policy(self) -> bool:
        """Activate the bundle at ``policy_bundle`` if it changed. A bundle that does not
        verify, load or compile is refused with an error log, and the policy in force keeps
        serving. The activation is ledgered before the new policy decides anything."""
        path = self.settings.policy_bundle
        if path is None:
            return False
        try:
            data = _read_bundle(path)
        except GatewayError as exc:
            log.error("policy.reload_refused", reason=str(exc)[:300])
            return False
        digest = file_digest(data)
        if digest in (self.active.current.origin.get("digest"), self.refused_bundle):
            return False  # unchanged, or the same file refused before: no retry, no log flood
        if self.settings.policy_engine == "opa":
            # NOTE: one OPA holds one policy: loading the new one would change the decisions
            # of requests still holding the old snapshot. The sidecar reloads by restart.
            log.error("policy.reload_refused", reason="the OPA sidecar engine reloads by restart")
            return False
        try:
            snapshot = load_snapshot(self.settings)
        except (ConfigurationError, PolicyUnavailable) as exc:
            # The bundle itself is wrong (signature, files, catalogue, Rego): not tried again
            # until the file changes.
            self.refused_bundle = digest
            log.error("policy.reload_refused", reason=str(exc)[:300])
            return False
        except GatewayError as exc:
            # Something around it is (a missing key, ...): tried again at the next poll.
            log.error("policy.reload_failed", reason=str(exc)[:300])
            return False
        try:
            _activate_policy(self.ledger, self.db, snapshot, self.seals)
        except GatewayError as exc:
            # No ledger, no activation; a good bundle is tried again at the next poll.
            _close_engine(snapshot.engine)
            log.error("policy.reload_failed", reason=str(exc)[:300])
            return False
        previous = self.active.current
        self.active.replace(snapshot)
        _close_engine(previous.engine)  # e.g. a memo's verification thread
        log.info("policy.activated", version=snapshot.version, **snapshot.origin)
        return True

    def checkpoint(self) -> tuple[Checkpoint, Path] | None:
        """Write a signed checkpoint if the ledger grew since the last one."""
        latest = self.checkpoints.latest()
        made = new_checkpoint(self.store, self.keys.ledger_signing, self.keys.auditor_public)
        if made.size == 0 or (latest is not None and latest.size >= made.size):
            return None
        return made, self.checkpoints.write(made)

    def change_auditor(self, new: X25519PublicKey, by: str) -> Path:
        """Move to a new auditor key: a ledgered, signed event (sealed for the new key) first,
        then the new ``auditor.pub``. Returns where the pseudonym key sealed for the new
        auditor was written (for them to take, with their key pair)."""
        old = self.keys.auditor_public
        if key_id(new) == key_id(old):
            raise ConfigurationError("that is already the auditor key")
        change = {"old_key_id": key_id(old), "new_key_id": key_id(new), "by": by}
        self.ledger.change_auditor(
            Record.gateway_event("auditor_key.change", self.engine.version, change), new
        )
        pem = new.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.settings.keys_dir / AUDITOR_PUBLIC).write_bytes(pem)
        handover = self.settings.home / "auditor-handover" / AUDITOR_PSEUDONYM
        write_private(handover, seal_pseudonym_key(self.keys.pseudonym_key, new), exclusive=False)
        return handover

    def close(self) -> None:
        """Stop the worker lanes and release database connections."""
        self.disclosures.lanes.close()
        self.auth_lane.close()
        committer = self.ledger.committer
        if committer is not None:
            committer.close()
        self.ledger.close()
        for connector in self.disclosures.connectors.values():
            dispose = getattr(connector, "dispose", None)
            if dispose is not None:
                dispose()
        _close_engine(self.engine)
        self.signals.close()
        self.store.close()
        self.db.dispose()


def _close_engine(engine: PolicyEngine) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()


def passphrase(settings: Settings) -> bytes | None:
    if settings.key_passphrase is None:
        return None
    return settings.key_passphrase.get_secret_value().encode() or None


def auditor_passphrase(settings: Settings) -> bytes:
    """The auditor's passphrase, for `keys init` and the auditor's tools (b"" if not set)."""
    if settings.auditor_passphrase is None:
        return b""
    return settings.auditor_passphrase.get_secret_value().encode()


def make_policy_engine(settings: Settings, policy: PolicySet) -> PolicyEngine:
    if settings.policy_engine == "embedded":
        return EmbeddedEngine(policy)
    from gateway.policy.sidecar import SidecarEngine

    return SidecarEngine(policy, settings.opa_url, settings.policy_timeout_seconds)


def sql_connectors(settings: Settings, catalog: Catalog) -> dict[str, Connector]:
    return {
        source: SqlConnector(
            source,
            settings.source_url(source),
            columns={name: spec.type for name, spec in catalog.fields(source).items()},
        )
        for source in catalog.sources
    }


def _check_auditor_key(store: LedgerStore, auditor: X25519PublicKey) -> None:
    """Refuse to seal new entries for another auditor key than the ledger has been using: a
    swapped auditor.pub would otherwise silently hand every future body to someone else."""
    sealed_for = last_auditor_key_id(store)
    if sealed_for is not None and sealed_for != key_id(auditor):
        raise ConfigurationError(
            f"auditor.pub ({key_id(auditor)}) is not the key the ledger seals for "
            f"({sealed_for}); restore it — a change of auditor key must be made deliberately"
        )


def _activate_policy(ledger: Ledger, db: Engine, snapshot: PolicySnapshot, seals: RowSeals) -> None:
    """A policy version that decides for the first time is itself a ledgered event, so the
    ledger shows which policy was in force from when, where it came from and who signed it
    (and no decision refers to a version the ledger never announced)."""
    version = snapshot.version
    previous = policy_in_force(ledger.store)
    if previous == version:
        return
    activation = {"version": version, "previous": previous, "origin": dict(snapshot.origin)}
    record = Record.gateway_event("policy.activate", version, activation)
    origin = snapshot.origin
    row = {
        "id": secrets.token_hex(16),
        "version": version,
        "previous": previous,
        "activated_at": iso_now(),
        "kind": origin.get("kind", ""),
        "revision": origin.get("revision"),
        "signer": origin.get("signer"),
        "created": origin.get("created"),
        "activated_by": f"{socket.gethostname()}:{os.getpid()}",
    }
    row["seal"] = seals.seal("policy_activation", row)  # what the officers' console shows

    def write(conn: Connection) -> None:
        conn.execute(insert(policy_activation).values(**row))

    # The officers' console reads this row; it commits with the ledger entry where the two
    # share a database, so one exists exactly when the other does.
    append_with(ledger, db, record, write)


def load_snapshot(settings: Settings, engine: PolicyEngine | None = None) -> PolicySnapshot:
    """The policy to enforce: the signed bundle at ``policy_bundle``, or — only in the
    explicitly named development mode — the unsigned policy directory."""
    if settings.policy_bundle is not None:
        data = _read_bundle(settings.policy_bundle)
        policy, manifest = open_bundle(data, trusted_policy_keys(settings))
        origin = {
            "kind": "bundle",
            "path": str(settings.policy_bundle),
            "digest": file_digest(data),
            **describe(manifest),
        }
    elif settings.policy_mode == "development":
        policy = load_policy_set(settings.resolved_policy_dir)
        origin = {"kind": "directory", "path": str(settings.resolved_policy_dir)}
        log.info(
            "policy.unsigned",
            mode="development",
            note="enforcing an unsigned policy directory; production runs a signed bundle",
        )
    else:
        raise ConfigurationError(
            "the gateway enforces only a signed policy bundle: set GATEWAY_POLICY_BUNDLE to one "
            "built with `gateway policy build`, or GATEWAY_POLICY_MODE=development to run the "
            "unsigned policy directory on a development machine"
        )
    chosen = engine or make_policy_engine(settings, policy)
    if settings.policy_memo:
        chosen = MemoEngine(chosen, policy.modules, verify_share=settings.policy_memo_verify_share)
    return PolicySnapshot(policy, chosen, Catalog(policy.catalog), origin)


def _read_bundle(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(
            f"the policy bundle {path} cannot be read ({exc.strerror})"
        ) from None
    return data


def trusted_policy_keys(settings: Settings) -> list[Ed25519PublicKey]:
    path = settings.keys_dir / POLICY_PUBLIC
    if not path.is_file():
        raise KeyUnavailable(
            f"no trusted policy-signing key: put the privacy officers' {POLICY_PUBLIC} in "
            f"{settings.keys_dir}"
        )
    return [load_ledger_public(path)]


def build_gateway(
    settings: Settings,
    *,
    connectors: Mapping[str, Connector] | None = None,
    engine: PolicyEngine | None = None,
    store: LedgerStore | None = None,
) -> Gateway:
    """Load keys, policy and database; fail at start-up, not on the first request."""
    keys = load_keyring(settings.keys_dir, passphrase(settings))
    db = make_engine(settings.resolved_database_url)
    create_schema(db)
    check_fingerprints(db, fingerprints(keys))  # the pseudonym and webhook keys are its own
    seals = RowSeals.of(keys.ledger_signing)
    registry = check_registry(db, seals)
    log.info("registry.sealed", **{t: n for t, n in registry.checked.items()})
    snapshot = load_snapshot(settings, engine)
    active = ActivePolicy(snapshot)
    catalog = snapshot.catalog
    store = store or store_for(db)
    ledger = Ledger(store, keys.ledger_signing, keys.auditor_public)
    _check_auditor_key(store, keys.auditor_public)
    checkpoints = CheckpointDir(settings.resolved_checkpoint_dir)
    ledger.observe(check_startup(store, keys.ledger_signing.public_key(), checkpoints))
    _activate_policy(ledger, db, snapshot, seals)
    # From here on, concurrent appends are committed in groups (one transaction, one fsync).
    ledger.attach(GroupCommitter(ledger))
    jwk = signing_jwk(keys.token_signing)
    chosen = connectors if connectors is not None else sql_connectors(settings, catalog)
    lanes = Lanes(
        policy=Lane("policy", settings.policy_workers),
        ledger=Lane("ledger", settings.ledger_workers),
        sources={
            source: Lane(f"source:{source}", settings.connector_workers, queue_limit=64)
            for source in chosen
        },
    )
    window = settings.auth_failure_window_seconds
    generator = TokenGenerator(jwk, settings.issuer, settings.audience, settings.token_ttl_seconds)
    cases = CaseRegistry(
        db, active, Pseudonymiser(keys.pseudonym_key), keys.auditor_public, ledger, seals
    )
    signals, signal_cases, webhooks = _signal_parts(
        settings, db, keys, active, ledger, lanes.policy, cases, seals
    )
    gw = Gateway(
        settings=settings,
        db=db,
        keys=keys,
        active=active,
        store=store,
        ledger=ledger,
        cases=cases,
        signals=signals,
        signal_cases=signal_cases,
        webhooks=webhooks,
        disclosures=DisclosureService(
            policy=active,
            ledger=ledger,
            connectors=chosen,
            lanes=lanes,
            policy_timeout=settings.policy_timeout_seconds,
            policy_queue_timeout=settings.policy_queue_timeout_seconds,
            ledger_timeout=settings.ledger_timeout_seconds,
            connector_timeout=settings.connector_timeout_seconds,
            connector_concurrency=settings.connector_workers,
        ),
        token_generator=generator,
        token_verifier=TokenVerifier(
            jwk,
            settings.issuer,
            settings.audience,
            settings.clock_leeway_seconds,
            settings.token_max_lifetime_seconds,
        ),
        token_server=TokenServer(db, generator, seals),
        checkpoints=checkpoints,
        throttle=Throttle(
            FailureWindow(settings.auth_failures_per_client, window),
            FailureWindow(settings.auth_failures_per_peer, window),
        ),
        auth_lane=Lane("auth", settings.auth_workers, queue_limit=64),
        seals=seals,
    )
    ledger.on_superseded = gw.superseded
    return gw


def _signal_parts(
    settings: Settings,
    db: Engine,
    keys: KeyRing,
    active: ActivePolicy,
    ledger: Ledger,
    lane: Lane,
    cases: CaseRegistry,
    seals: RowSeals,
) -> tuple[SignalService, SignalCases, WebhookDispatcher]:
    path = settings.keys_dir / SIGNAL_PSEUDONYM
    secret = passphrase(settings)
    chain = check_signal_keys(db, SignalKeys.from_bytes(keys.signal_keys), path, secret)
    holder = KeyHolder(chain, reload=lambda: SignalKeys.from_bytes(read_signal_keys(path, secret)))
    service = SignalService(
        db,
        active,
        holder,
        Pseudonymiser(keys.pseudonym_key),
        ledger,
        lane,
        seals,
        policy_timeout=settings.policy_timeout_seconds,
        policy_queue_timeout=settings.policy_queue_timeout_seconds,
        organisations=lambda: organisation_names(db),
    )
    dispatcher = WebhookDispatcher(
        db,
        ledger,
        keys.webhook_signing,
        lambda: active.current.version,
        seals,
        timeout=settings.webhook_timeout_seconds,
        max_attempts=settings.webhook_max_attempts,
        allow_http=settings.webhook_allow_http,
    )
    return service, SignalCases(service, cases), dispatcher


def organisation_names(db: Engine) -> dict[str, str]:
    """Organisation names by OIN, from the registered clients."""
    with db.connect() as conn:
        return {oin: name for oin, name in conn.execute(text(_ORGANISATIONS)).all()}


_ORGANISATIONS = "SELECT oin, organisation FROM client"
