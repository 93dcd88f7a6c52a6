"""The ``gateway`` command.

One entry point (:func:`main`) and one handler for the error tree (:class:`_Commands`): a
:class:`~gateway.errors.GatewayError` becomes a one-line message and its class's exit code
(docs/cli.md lists them); anything else is a bug, reported without its text (which may hold
data) as exit 70. No expected failure prints a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from gateway.errors import UNEXPECTED_EXIT, GatewayError, InvalidRequest, NotFound, Problem
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.ledger.checkpoint import Checkpoint


class _Commands(TyperGroup):
    """Every command runs inside this group's ``invoke``: the one place errors become exits."""

    def invoke(self, ctx: Any) -> Any:  # typer's vendored click.Context
        from gateway.logging import configure_logging

        # Log lines go to standard error, never into a command's output (a token, JSON).
        configure_logging("WARNING")
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except GatewayError as exc:
            typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:
            typer.secho(
                f"error: internal failure ({exc.__class__.__name__}); nothing was changed "
                "that a retry would not redo",
                fg=typer.colors.RED,
                err=True,
            )
            raise typer.Exit(UNEXPECTED_EXIT) from None


def _typer(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        cls=_Commands,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )


app = _typer(
    "Purpose-bound information-sharing gateway for care-and-safety partners.\n\n"
    "Every command works on one data directory, the home (--home or GATEWAY_HOME; by default "
    "the current directory), which holds keys/, var/ (databases) and, if you have your own, "
    "policies/. Exit codes are listed in docs/cli.md."
)
keys_app = _typer("Generate the instance's keys.")
policy_app = _typer("Work with the Rego policy set.")
ledger_app = _typer("Verify the access ledger, write checkpoints, prove entries.")
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
audit_app = _typer(
    "The auditor's tools: query the ledger, report to a data subject (GDPR art. 15), find "
    "anomalies. They need the auditor's key (GATEWAY_AUDITOR_DIR, GATEWAY_AUDITOR_PASSPHRASE), "
    "which the serving gateway never has, and only read the database."
)
app.add_typer(ledger_app, name="ledger")
app.add_typer(audit_app, name="audit")
signals_app = _typer(
    'Signals ("also on another partner\'s list"): run their clock, rotate the matching key. '
    "docs/signals.md."
)
clients_app = _typer("Settings of registered API clients.")
app.add_typer(signals_app, name="signals")
app.add_typer(clients_app, name="clients")
registry_app = _typer(
    "The registry's seals (ADR 0017): every client, case and linked person row carries an HMAC "
    "under a key derived from the ledger's signing key; a row changed behind the gateway's back "
    "stops the server and releases nothing."
)
app.add_typer(registry_app, name="registry")

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="GATEWAY_HOME",
        help="The data directory with keys/, var/ and optionally policies/. "
        "[default: the current directory]",
        show_default=False,
    ),
]
PolicyDirOption = Annotated[
    Path | None,
    typer.Option(
        help="The policy directory. [default: HOME/policies if it exists, else the policies "
        "shipped with the gateway]",
        show_default=False,
    ),
]
HostOption = Annotated[
    str | None,
    typer.Option(help="The interface to listen on. [default: 127.0.0.1]", show_default=False),
]
PortOption = Annotated[
    int | None, typer.Option(help="The port to listen on. [default: 8000]", show_default=False)
]


def _settings(home: Path | None, **overrides: object) -> Settings:
    if home is not None:
        overrides["home"] = home.resolve()
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


# -- keys --------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(
    home: HomeOption = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Replace existing keys; old ledger entries then verify only with the old "
            "public key, so keep a copy of it."
        ),
    ] = False,
    missing: Annotated[
        bool,
        typer.Option(
            "--missing",
            help="Only add the keys this version has and an existing key directory lacks "
            "(signal-pseudonym.key, webhook-signing.key); nothing else is touched.",
        ),
    ] = False,
) -> None:
    """Generate the token-signing, ledger-signing, auditor and pseudonymisation keys.

    The gateway's private keys are encrypted with GATEWAY_KEY_PASSPHRASE when it is set. The
    auditor's key pair goes to the auditor directory (GATEWAY_AUDITOR_DIR, by default
    HOME/auditor), its private key encrypted with GATEWAY_AUDITOR_PASSPHRASE, which is required:
    hand that directory to the auditor and remove it from this server.
    """
    from gateway.keys import init_keys, init_missing_keys
    from gateway.runtime import auditor_passphrase, passphrase

    settings = _settings(home)
    if missing:
        added = init_missing_keys(settings.keys_dir, passphrase(settings))
        for path in added:
            typer.echo(f"wrote {path}")
        if not added:
            typer.echo("no key was missing")
        return
    paths = init_keys(
        settings.keys_dir,
        passphrase(settings),
        auditor_dir=settings.resolved_auditor_dir,
        auditor_passphrase=auditor_passphrase(settings),
        force=force,
    )
    for path in paths:
        typer.echo(f"wrote {path}")
    typer.secho(
        f"note: {settings.resolved_auditor_dir} holds the auditor's key pair; give it to the "
        "auditor and remove it from this server.",
        fg=typer.colors.YELLOW,
        err=True,
    )
    if not passphrase(settings):
        typer.secho(
            "note: GATEWAY_KEY_PASSPHRASE is not set; private keys are unencrypted.",
            fg=typer.colors.YELLOW,
            err=True,
        )


@keys_app.command("change-auditor")
def keys_change_auditor(
    new_public_key: Annotated[
        Path, typer.Argument(help="The new auditor's auditor.pub (X25519, PEM).")
    ],
    home: HomeOption = None,
) -> None:
    """Move the ledger to a new auditor key, as a signed ledger event sealed for the new key.

    The new auditor makes their own key pair (`gateway keys init` in a scratch home, or any
    X25519 tool) and hands over only the public key. Afterwards every new entry is sealed for
    it, and HOME/auditor-handover/pseudonym.sealed holds the pseudonym key for the new auditor.
    Replacing keys/auditor.pub any other way stops the server.
    """
    from gateway.keys import load_auditor_public
    from gateway.runtime import build_gateway

    new = load_auditor_public(new_public_key)
    gw = build_gateway(_settings(home), connectors={})
    try:
        handover = gw.change_auditor(new, by="operator (gateway keys change-auditor)")
    finally:
        gw.close()
    typer.echo(f"the ledger now seals for the new auditor key; give them {handover}")


# -- signals and clients ----------------------------------------------------------------------


@signals_app.command("expire")
def signals_expire(home: HomeOption = None) -> None:
    """Run the signals' clock once: signals past their active period stop matching (expired),
    signals past their keeping period are destroyed with their matches, and matches left
    pending by a stopped process are ledgered. Every step is ledgered first.

    A serving gateway does this every GATEWAY_SIGNAL_EXPIRE_INTERVAL_SECONDS (60); run it from
    cron where no server runs.
    """
    from gateway.runtime import build_gateway

    gw = build_gateway(_settings(home), connectors={})
    try:
        run = gw.signals.run_clock()
    finally:
        gw.close()
    typer.echo(
        f"expired {run.expired}, destroyed {run.destroyed}, settled {run.settled} pending matches"
    )


@signals_app.command("rotate-key")
def signals_rotate_key(home: HomeOption = None) -> None:
    """Add a fresh key to the signals' matching key chain and re-key every stored pseudonym in
    one transaction (no BSN is needed or kept). Ledgered as signal_key.rotate.

    Run it when the key file may have been copied: afterwards the stored pseudonyms depend on a
    key that did not exist before. Registrations wait while it runs (one transaction).
    """
    from gateway.keys import SIGNAL_PSEUDONYM
    from gateway.runtime import build_gateway, passphrase
    from gateway.signals.rotation import rotate_signal_keys

    settings = _settings(home)
    gw = build_gateway(settings, connectors={})
    try:
        from sqlalchemy import func, select

        from gateway.signals.tables import signal

        with gw.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(signal)).scalar_one()
        with typer.progressbar(
            length=total, label="re-keying", file=sys.stderr, show_pos=True
        ) as bar:
            done = rotate_signal_keys(
                gw.db,
                gw.ledger,
                gw.signals.keys.keys,
                settings.keys_dir / SIGNAL_PSEUDONYM,
                passphrase(settings),
                gw.active.current.version,
                by="operator (gateway signals rotate-key)",
                seals=gw.seals,
                progress=bar.update,
            )
    finally:
        gw.close()
    typer.echo(
        f"signal key rotated to generation {done.generation} ({done.new_fingerprint[:12]}…); "
        f"{done.rekeyed} signals re-keyed"
    )


@clients_app.command("webhook")
def clients_webhook(
    client_id: Annotated[str, typer.Argument(help="A registered client id.")],
    url: Annotated[
        str | None,
        typer.Argument(help="Where to POST its match notifications (https)."),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove the client's webhook.")] = False,
    home: HomeOption = None,
) -> None:
    """Set (or --remove) the webhook a client's organisation is notified on of new matches.

    Deliveries are signed (Standard Webhooks, Ed25519; the public key is at
    GET /v1/signals/webhook-key) and retried with back-off. Only the operator sets a webhook:
    an API client cannot make the gateway call an address of its choosing.
    """
    from gateway.signals.webhooks import set_webhook

    if (url is None) == (not remove):
        raise InvalidRequest([Problem("url", "give a URL, or --remove (not both)")])
    settings = _settings(home)
    db, seals = _registry_parts(home)  # the webhook is sealed: the instance's keys are needed
    try:
        set_webhook(db, seals, client_id, url, allow_http=settings.webhook_allow_http)
    finally:
        db.dispose()
    typer.echo(f"{client_id}: webhook {'removed' if remove else 'set'}")


# -- registry ----------------------------------------------------------------------------------


def _registry_parts(home: Path | None) -> tuple[Any, Any]:
    from gateway.db import create_schema, make_engine
    from gateway.keys import load_keyring
    from gateway.rowseals import RowSeals
    from gateway.runtime import passphrase

    settings = _settings(home)
    keys = load_keyring(settings.keys_dir, passphrase(settings))
    db = make_engine(settings.resolved_database_url)
    create_schema(db)
    return db, RowSeals.of(keys.ledger_signing)


@registry_app.command("check")
def registry_check(home: HomeOption = None) -> None:
    """Check every client, case and linked person row against its seal (read only).

    Exit 0 when every row matches; 88 (RegistryTampered) when a row does not, has no seal, or
    belongs to a case or link that is not there. Needs the instance's keys, as the server does.
    """
    from gateway.sealcheck import check_registry

    db, seals = _registry_parts(home)
    try:
        report = check_registry(db, seals)
    finally:
        db.dispose()
    typer.echo(f"registry sound: {report.summary()}")


@registry_app.command("seal")
def registry_seal(
    home: HomeOption = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Seal them (without it: only show what would be).")
    ] = False,
) -> None:
    """Seal the rows written before seals existed, once, after upgrading to this version.

    Every row without a seal gets one; nothing is done if any sealed row fails its seal (that
    is tampering, not an upgrade). Sealing vouches for what the rows say now: look at them
    first (`gateway token --list`, the cases) on a database nobody else could write.
    """
    from gateway.sealcheck import seal_unsealed

    db, seals = _registry_parts(home)
    try:
        report = seal_unsealed(db, seals, apply=yes)
    finally:
        db.dispose()
    unsealed = sum(report.unsealed.values())
    if not yes:
        typer.echo(f"would seal {unsealed} rows ({report.summary()}); run again with --yes")
        return
    typer.echo(f"sealed {unsealed} rows ({report.summary()})")


# -- tokens ------------------------------------------------------------------------------------


@app.command("token")
def token(
    client_id: Annotated[
        str | None, typer.Argument(help="A registered client id, e.g. politie-wijkagent.")
    ] = None,
    home: HomeOption = None,
    list_: Annotated[bool, typer.Option("--list", help="List the registered clients.")] = False,
) -> None:
    """Print an access token for a registered client (for local use), or list the clients."""
    from gateway.auth.clients import AuthlibClient, list_clients, verified_client
    from gateway.runtime import build_gateway

    if client_id is None and not list_:
        typer.secho("error: give a CLIENT_ID or --list", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    gw = build_gateway(_settings(home), connectors={})
    try:
        if list_:
            rows = list_clients(gw.db)
            if not rows:
                typer.echo("no clients registered (run `gateway demo` for the demo region)")
            for row in rows:
                typer.echo(
                    f"{row.client_id:24} {row.org_type:17} {row.role:24} {row.oin}  "
                    f"{row.organisation}"
                )
            return
        found = verified_client(gw.db, gw.seals, client_id or "")
        if found is None:
            raise NotFound("no such registered client (see `gateway token --list`)")
        typer.echo(gw.token_generator.mint(AuthlibClient(found))["access_token"])
    finally:
        gw.close()


# -- policy ------------------------------------------------------------------------------------


@policy_app.command("keygen")
def policy_keygen(
    out: Annotated[
        Path, typer.Argument(help="Directory for policy-signing.key and policy-signing.pub.")
    ],
) -> None:
    """Make the privacy officers' policy-signing key pair (the private key encrypted under
    GATEWAY_POLICY_SIGNING_PASSPHRASE). Copy only policy-signing.pub to each gateway's keys/;
    the private key never goes near a gateway (a gateway refuses to start beside it)."""
    from gateway.keys import init_policy_signing

    public = init_policy_signing(out, _policy_signing_passphrase())
    typer.echo(f"wrote {out / 'policy-signing.key'} (private, encrypted) and {public}")


def _policy_signing_passphrase() -> bytes:
    return os.environ.get("GATEWAY_POLICY_SIGNING_PASSPHRASE", "").encode()


@policy_app.command("build")
def policy_build(
    key: Annotated[Path, typer.Option(help="The policy-signing private key (policy keygen).")],
    out: Annotated[Path, typer.Option(help="Where to write the bundle (.tar.gz).")],
    revision: Annotated[
        str, typer.Option(help="A name for this release, e.g. 2026-11-23.1 or a git commit.")
    ],
    home: HomeOption = None,
    policy_dir: PolicyDirOption = None,
) -> None:
    """Pack a policy directory into a signed bundle: the files, a manifest (revision, each
    file's SHA-256, the policy version) and an Ed25519 signature over the manifest. The
    catalogue is validated first: an invalid policy is never signed. Run `policy test` and
    `policy prove` before you sign."""
    from gateway.files import write_private
    from gateway.keys import load_policy_signing
    from gateway.policy.signing import build_bundle

    signing = load_policy_signing(key, _policy_signing_passphrase())
    data, manifest = build_bundle(
        policy_dir or _settings(home).resolved_policy_dir, signing, revision
    )
    write_private(out, data, exclusive=False)
    typer.echo(
        f"wrote {out}: revision {manifest.revision}, policy {manifest.policy_version[:19]}, "
        f"{len(manifest.files)} files, signed by {manifest.signer}"
    )


@policy_app.command("verify")
def policy_verify(
    bundle: Annotated[Path, typer.Argument(help="The bundle to check.")],
    public_key: Annotated[
        Path | None,
        typer.Option(
            help="The trusted policy-signing public key. [default: HOME/keys/policy-signing.pub]",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Check a bundle as the gateway would before activating it: signed by the trusted key,
    exactly the files its manifest lists, a catalogue that validates. Exit 77 if refused."""
    from gateway.keys import POLICY_PUBLIC, load_ledger_public
    from gateway.policy.signing import describe, open_bundle

    key = load_ledger_public(public_key or _settings(home).keys_dir / POLICY_PUBLIC)
    policy, manifest = open_bundle(bundle.read_bytes(), [key])
    for name, value in describe(manifest).items():
        typer.echo(f"{name:15} {value}")
    typer.echo(f"bundle verified: {len(manifest.files)} files, policy {policy.version[:19]}")


@policy_app.command("replay")
def policy_replay(
    candidate: Annotated[
        Path,
        typer.Option(
            help="The candidate policy: a signed bundle (checked against the trusted key) or, "
            "to try a change before signing it, a policy directory."
        ),
    ],
    since: Annotated[str | None, typer.Option("--from", help="From (RFC 3339, inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Until (RFC 3339, exclusive).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="text, json or html.")] = "text",
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    auditor_dir: AuditorDirOption = None,
    public_key: PublicKeyOption = None,
    policy_key: Annotated[
        Path | None,
        typer.Option(
            help="The trusted policy-signing public key. [default: HOME/keys/policy-signing.pub]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """What would change if the candidate policy had decided the ledger's past requests.

    Opens each disclosure decision of the period with the auditor's key (its sealed body holds
    the complete policy input), evaluates every source's input under the candidate and reports
    requests newly allowed or denied and fields gained or lost, per purpose and organisation.
    Reads only; the ledger is verified first."""
    from gateway.audit.query import Filter, entries
    from gateway.audit.report import organisations
    from gateway.catalog import Catalog
    from gateway.errors import InvalidRequest, Problem
    from gateway.keys import POLICY_PUBLIC, load_ledger_public
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.embedded import EmbeddedEngine
    from gateway.policy.replay import ReplayReport, as_html, as_text, replay
    from gateway.policy.signing import open_bundle

    if fmt not in ("text", "json", "html"):
        raise InvalidRequest([Problem("--format", "text, json or html")])
    settings = _settings(home)
    if candidate.is_dir():
        policy = load_policy_set(candidate)
        label = f"directory {candidate} ({policy.version[:19]})"
    else:
        trusted = load_ledger_public(policy_key or settings.keys_dir / POLICY_PUBLIC)
        policy, manifest = open_bundle(candidate.read_bytes(), [trusted])
        label = f"bundle {manifest.revision} ({policy.version[:19]})"
    access = _auditor(home, database_url, auditor_dir, public_key)
    _verified(access)
    where = Filter(action="disclosure.decision", since=since, until=until)
    total = sum(1 for _ in entries(access.store, where))
    report = ReplayReport(label, since, until)
    with typer.progressbar(length=total, label="replaying", file=sys.stderr, show_pos=True) as bar:
        replay(
            entries(access.store, where),
            access.body_or_none,
            organisations(access.engine),
            EmbeddedEngine(policy),
            Catalog(policy.catalog),
            report,
            progress=lambda: bar.update(1),
        )
    if fmt == "json":
        typer.echo(json.dumps(report.summary(), indent=2, ensure_ascii=False))
    elif fmt == "html":
        typer.echo(as_html(report))
    else:
        typer.echo(as_text(report))


@policy_app.command("matrix")
def policy_matrix(
    fmt: Annotated[str, typer.Option("--format", help="md (Markdown) or html.")] = "md",
    home: HomeOption = None,
    policy_dir: PolicyDirOption = None,
) -> None:
    """Print the sharing matrix a privacy covenant annexes: per purpose its legal bases, and
    which role may receive which field from which source at which stage, in which form and on
    which basis — generated from the policy data, and exactly what the engine releases."""
    from gateway.catalog import Catalog
    from gateway.errors import InvalidRequest, Problem
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.matrix import as_html, as_markdown

    if fmt not in ("md", "html"):
        raise InvalidRequest([Problem("--format", "md or html")])
    policy = load_policy_set(policy_dir or _settings(home).resolved_policy_dir)
    render = as_html if fmt == "html" else as_markdown
    typer.echo(render(Catalog(policy.catalog), policy.catalog, policy.version))


@policy_app.command("explain")
def policy_explain(
    input_file: Annotated[
        Path,
        typer.Option(
            "--input",
            help='A policy input as JSON (docs/policy-input.md), bare or as {"input": …} — e.g. '
            "a counter-example from `policy prove`; - for standard input.",
        ),
    ],
    home: HomeOption = None,
    policy_dir: PolicyDirOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Evaluate a hypothetical request and show the decision with the rule path that led to
    each field's outcome (the same as POST /v1/policy/dry-run, on a policy directory)."""
    from gateway.catalog import Catalog
    from gateway.errors import InvalidRequest, Problem
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.embedded import EmbeddedEngine
    from gateway.policy.explain import as_text, dry_run
    from gateway.policy.snapshot import PolicySnapshot

    raw = sys.stdin.read() if str(input_file) == "-" else input_file.read_text()
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidRequest([Problem("--input", "not JSON")]) from None
    if isinstance(doc, dict) and set(doc) == {"input"}:
        doc = doc["input"]
    if not isinstance(doc, dict):
        raise InvalidRequest([Problem("--input", "a JSON object: the policy input")])
    policy = load_policy_set(policy_dir or _settings(home).resolved_policy_dir)
    snapshot = PolicySnapshot(
        policy, EmbeddedEngine(policy), Catalog(policy.catalog), {"kind": "directory"}
    )
    result = dry_run(snapshot, doc)
    typer.echo(json.dumps(result, indent=2, ensure_ascii=False) if json_out else as_text(result))


@policy_app.command("prove")
def policy_prove(
    home: HomeOption = None,
    policy_dir: PolicyDirOption = None,
    engine: Annotated[
        str | None,
        typer.Option(
            help="embedded (rego-cpp) or opa (OPA's own evaluator, ~2x faster here). "
            "[default: the engine the gateway is configured with]",
            show_default=False,
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the certificate as JSON.")
    ] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save",
            help="Also keep the certificate in HOME/certificates/, where the privacy officers' "
            "console shows it beside the policy version.",
        ),
    ] = False,
) -> None:
    """Check the policy's invariants on EVERY point of its finite input space.

    Enumerates every purpose, organisation type and role, source, stage, minor flag, consent,
    urgency, justification and standing (participant of an open case with the subject linked,
    or not), evaluates each on a real engine and checks: no geheim field ever; nothing for a
    closed case, a non-participant or an unlinked subject; GGZ data only with consent or
    break-glass; children only where the purpose's scope includes them; a covering legal basis
    for every field; break-glass only inside the role's row; and monotonicity (consent never
    releases less, monitoring never more than plan, screening only existence/contact and never
    more than casusoverleg, urgency never beyond the break-glass set).

    Prints a certificate (exit 0) or, per violated invariant, its first counter-example with
    the policy input that shows it, ready for `gateway policy explain` (exit 1). A policy that
    reads the case id, the participants or the consents beyond what the space enumerates is
    not proved either (result `incomplete`, exit 1): the space would not cover it.
    """
    from gateway.errors import InvalidRequest, Problem
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.prove import embedded_evaluator, opa_evaluator, prove

    settings = _settings(home)
    chosen = engine or ("opa" if settings.policy_engine == "opa" else "embedded")
    if chosen not in ("embedded", "opa"):
        raise InvalidRequest([Problem("--engine", "embedded or opa")])
    policy = load_policy_set(policy_dir or settings.resolved_policy_dir)
    evaluate = opa_evaluator(policy) if chosen == "opa" else embedded_evaluator(policy)
    from gateway.catalog import Catalog
    from gateway.policy.space import fixed_members, size

    total = size(Catalog(policy.catalog), fixed_members(policy.modules))
    with typer.progressbar(length=total, label="proving", file=sys.stderr, show_pos=True) as bar:
        certificate = prove(policy, evaluate, chosen, progress=bar.update)
    if json_out:
        typer.echo(json.dumps(certificate.as_dict(), indent=2, ensure_ascii=False))
    else:
        _print_certificate(certificate)
    if save:
        from gateway.policy import certificates

        kept = certificates.save(settings, certificate.as_dict())
        typer.echo(f"certificate kept in {kept}", err=True)
    if not certificate.proved:
        raise typer.Exit(1)


def _print_certificate(certificate: Any) -> None:
    doc = certificate.as_dict()
    typer.echo(f"policy        {doc['policy_version']}")
    typer.echo(f"engine        {doc['engine']}")
    typer.echo(f"input space   {doc['input_space']:,} points")
    for member, why in doc["reductions"].items():
        typer.echo(f"reduction     {member}: {why}")
    typer.echo(f"time          {doc['seconds']} s")
    failed = {c["invariant"]: c for c in doc["counter_examples"]}
    for name, text in doc["invariants"].items():
        mark = (
            typer.style("FAIL", fg=typer.colors.RED)
            if name in failed
            else typer.style("ok  ", fg=typer.colors.GREEN)
        )
        typer.echo(f"{mark} {name}: {text}")
    for c in doc["counter_examples"]:
        typer.echo(f"\ncounter-example to {c['invariant']}: {c['detail']}")
        typer.echo(json.dumps({"input": c["input"]}, ensure_ascii=False))
    for unchecked in doc["unchecked_reductions"]:
        typer.echo(typer.style("unchecked", fg=typer.colors.YELLOW) + f" {unchecked}")
    if failed:
        verdict = f"{len(failed)} invariant(s) violated"
    elif doc["unchecked_reductions"]:
        verdict = "INCOMPLETE: the space covers less than the policy reads"
    else:
        verdict = "PROVED"
    typer.echo(f"\nresult        {verdict}")


@policy_app.command("test")
def policy_test(
    home: HomeOption = None,
    policy_dir: PolicyDirOption = None,
    engine: Annotated[
        str,
        typer.Option(
            help="embedded (rego-cpp), opa (OPA's own evaluator; scripts/install-opa) or "
            "both: a policy must pass on both to be portable.",
        ),
    ] = "both",
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List passing tests too.")
    ] = False,
) -> None:
    """Run the policy set's Rego unit tests (*_test.rego) on each engine; exit 1 if any fails.

    On OPA it also reports coverage: the share of each policy module's lines that some test
    evaluated, and the rules no test reached."""
    from gateway.errors import InvalidRequest, Problem
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.unittest import Coverage, run_policy_tests

    if engine not in ("embedded", "opa", "both"):
        raise InvalidRequest([Problem("--engine", "embedded, opa or both")])
    policy = load_policy_set(policy_dir or _settings(home).resolved_policy_dir)
    engines: list[Literal["embedded", "opa"]] = (
        ["embedded", "opa"] if engine == "both" else [engine]  # type: ignore[list-item]
    )
    failed_anywhere = False
    for name in engines:
        coverage = Coverage() if name == "opa" else None
        outcomes = run_policy_tests(policy, name, coverage)
        failed = [o for o in outcomes if not o.passed]
        for o in outcomes:
            if verbose or not o.passed:
                mark = (
                    typer.style("PASS", fg=typer.colors.GREEN)
                    if o.passed
                    else typer.style("FAIL", fg=typer.colors.RED)
                )
                detail = f" — {o.detail}" if o.detail else ""
                typer.echo(f"{mark} [{name}] {o.module}: {o.name}{detail}")
        typer.echo(
            f"{name:8}: {len(outcomes) - len(failed)}/{len(outcomes)} policy tests passed "
            f"({policy.version[:19]})"
        )
        if coverage is not None:
            for module, text in sorted(policy.modules.items()):
                unreached = coverage.unreached_rules(module, text)
                typer.echo(
                    f"coverage: {module} {coverage.percent(module):.0f}% of lines"
                    + (f"; rules no test reached: {', '.join(unreached)}" if unreached else "")
                )
        if not outcomes:
            typer.secho("error: no policy tests found", fg=typer.colors.RED, err=True)
        failed_anywhere = failed_anywhere or bool(failed) or not outcomes
    if failed_anywhere:
        raise typer.Exit(1)


# -- ledger ------------------------------------------------------------------------------------


DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="The ledger's database URL. [default: the home's var/gateway.db]",
        show_default=False,
    ),
]
PublicKeyOption = Annotated[
    Path | None,
    typer.Option(
        help="The ledger's public key file. [default: HOME/keys/ledger-signing.pub]",
        show_default=False,
    ),
]


@ledger_app.command("verify")
def ledger_verify(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    public_key: PublicKeyOption = None,
    against: Annotated[
        Path | None,
        typer.Option(
            help="A checkpoint file to hold the ledger to: it must still contain exactly the "
            "entries the checkpoint commits to (detects rollback, truncation and forks).",
        ),
    ] = None,
    new: Annotated[
        bool,
        typer.Option(
            "--new",
            help="Accept an empty ledger (a new instance). Without it an empty ledger fails: "
            "an emptied one verifies as well as a new one.",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Threads (the compiled scan, on a SQLite ledger; ADR 0018) or processes "
            "checking entries (default: one per core). The verdict is the same with any number.",
        ),
    ] = None,
) -> None:
    """Check every entry's hash, link and signature, the signed head and, with --against, a
    checkpoint.

    Needs only the ledger's public key and read access. Exits 0 when the ledger is intact, 1
    naming the first bad entry, 74 if the database cannot be read, 76 if the key cannot.
    """
    from gateway.errors import LedgerCorrupted
    from gateway.keys import LEDGER_PUBLIC, load_ledger_public
    from gateway.ledger.parallel import verify_store_parallel
    from gateway.ledger.stores import open_store

    settings = _settings(home)
    key_file = public_key or settings.keys_dir / LEDGER_PUBLIC
    key = load_ledger_public(key_file)
    store = open_store(database_url or settings.resolved_database_url)
    total = store.count()
    if total == 0 and not new and against is None:  # a checkpoint decides for itself
        raise LedgerCorrupted(
            "the ledger is empty; if this instance is new, say so with --new", sequence=None
        )
    with typer.progressbar(length=total, label="verifying", file=sys.stderr, show_pos=True) as bar:
        report = verify_store_parallel(store, key, workers=workers, progress=bar.update)
    if against is not None:
        from gateway.ledger.checkpoint import check_against, tree_state

        checkpoint = _read_checkpoint(against)
        check_against(tree_state(store.entry_hashes(), checkpoint.size), checkpoint, key)
        typer.echo(
            f"checkpoint {against.name}: the ledger still holds its {checkpoint.size} entries"
        )
    typer.echo(
        f"ledger intact: {report.entries} entries, head {report.head_seq} {report.head_hash[:16]}…"
    )


def _read_checkpoint(path: Path) -> Checkpoint:
    from gateway.ledger.checkpoint import Checkpoint

    try:
        text = path.read_text()
    except OSError:
        raise NotFound(f"no checkpoint file at {path}") from None
    return Checkpoint.from_json(text, path.name)


@ledger_app.command("checkpoint")
def ledger_checkpoint(home: HomeOption = None) -> None:
    """Write a signed checkpoint of the ledger (its size and Merkle root) to the checkpoint
    directory (GATEWAY_CHECKPOINT_DIR, by default HOME/checkpoints), if it grew since the last.

    A serving gateway also writes one every GATEWAY_CHECKPOINT_INTERVAL_SECONDS and at shutdown.
    Copy checkpoints to where the operator cannot change them; `ledger verify --against` holds
    the ledger to one.
    """
    from gateway.runtime import build_gateway

    gw = build_gateway(_settings(home), connectors={})
    try:
        made = gw.checkpoint()
    finally:
        gw.close()
    if made is None:
        typer.echo("no new entries since the last checkpoint; nothing written")
        return
    checkpoint, path = made
    typer.echo(f"wrote {path}: {checkpoint.size} entries, root {checkpoint.root}")


@ledger_app.command("consistency")
def ledger_consistency(
    old: Annotated[Path, typer.Argument(help="The older checkpoint file.")],
    new: Annotated[Path, typer.Argument(help="The newer checkpoint file.")],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Prove that the NEW checkpoint's ledger extends the OLD one's (RFC 6962 consistency
    proof, printed as JSON after it is checked). Exit 1 if they fork: the newer history does
    not contain the older one."""
    from gateway.errors import LedgerCorrupted
    from gateway.keys import LEDGER_PUBLIC, load_ledger_public
    from gateway.ledger.checkpoint import check_against, tree_state
    from gateway.ledger.merkle import consistency_proof, verify_consistency
    from gateway.ledger.stores import open_store

    settings = _settings(home)
    key = load_ledger_public(public_key or settings.keys_dir / LEDGER_PUBLIC)
    first, second = _read_checkpoint(old), _read_checkpoint(new)
    if first.size > second.size:
        first, second = second, first
    store = open_store(database_url or settings.resolved_database_url)
    leaves: list[bytes] = []
    for h in store.entry_hashes():
        if len(leaves) == second.size:
            break
        leaves.append(bytes.fromhex(h))
    check_against(tree_state((x.hex() for x in leaves), second.size), second, key)
    if not first.signature_valid(key):
        raise LedgerCorrupted(
            "the older checkpoint is not signed by this ledger's key", sequence=None
        )
    proof = consistency_proof(first.size, leaves) if first.size else []
    if first.size and not verify_consistency(
        first.size, second.size, bytes.fromhex(first.root), bytes.fromhex(second.root), proof
    ):
        raise LedgerCorrupted(
            f"the checkpoints fork: the ledger of {second.size} entries does not extend the "
            f"one of {first.size}",
            sequence=None,
        )
    doc = {
        "old": {"size": first.size, "root": first.root},
        "new": {"size": second.size, "root": second.root},
        "proof": [p.hex() for p in proof],
    }
    typer.echo(json.dumps(doc, indent=2))


@ledger_app.command("prove")
def ledger_prove(
    entry_hash: Annotated[str, typer.Argument(help="The entry hash from a receipt.")],
    against: Annotated[
        Path, typer.Option(help="The checkpoint whose tree the proof is for.", show_default=False)
    ],
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Print an RFC 6962 inclusion proof that the entry with ENTRY_HASH is in the checkpoint's
    tree (JSON: index, size, root, proof), checked before it is printed. Exit 71 if the entry is
    not among the checkpoint's entries."""
    from gateway.keys import LEDGER_PUBLIC, load_ledger_public
    from gateway.ledger.checkpoint import check_against, tree_state
    from gateway.ledger.merkle import inclusion_proof, verify_inclusion
    from gateway.ledger.stores import open_store

    settings = _settings(home)
    key = load_ledger_public(public_key or settings.keys_dir / LEDGER_PUBLIC)
    checkpoint = _read_checkpoint(against)
    store = open_store(database_url or settings.resolved_database_url)
    leaves: list[str] = []
    for h in store.entry_hashes():
        if len(leaves) == checkpoint.size:
            break
        leaves.append(h)
    check_against(tree_state(leaves, checkpoint.size), checkpoint, key)
    if entry_hash not in leaves:
        raise NotFound("the entry is not among the checkpoint's entries")
    index = leaves.index(entry_hash)
    raw = [bytes.fromhex(h) for h in leaves]
    proof = inclusion_proof(index, raw)
    root = bytes.fromhex(checkpoint.root)
    assert verify_inclusion(raw[index], index, checkpoint.size, proof, root)
    doc = {
        "entry_hash": entry_hash,
        "index": index,
        "size": checkpoint.size,
        "root": checkpoint.root,
        "proof": [p.hex() for p in proof],
    }
    typer.echo(json.dumps(doc, indent=2))


# -- audit ---------------------------------------------------------------------------------------

AuditorDirOption = Annotated[
    Path | None,
    typer.Option(
        help="The auditor directory (auditor.key, pseudonym.sealed). [default: "
        "GATEWAY_AUDITOR_DIR, else HOME/auditor]",
        show_default=False,
    ),
]


def _auditor(
    home: Path | None, database_url: str | None, auditor_dir: Path | None, public_key: Path | None
) -> Any:
    from gateway.audit.access import AuditorAccess
    from gateway.keys import LEDGER_PUBLIC
    from gateway.runtime import auditor_passphrase

    settings = _settings(home, auditor_dir=auditor_dir)
    passphrase = (
        auditor_passphrase(settings)
        or typer.prompt("auditor passphrase", hide_input=True, err=True).encode()
    )
    return AuditorAccess.open(
        database_url or settings.resolved_database_url,
        settings.resolved_auditor_dir,
        passphrase,
        public_key or settings.keys_dir / LEDGER_PUBLIC,
    )


def _read_bsn() -> Any:
    """A BSN from a hidden prompt (or standard input): never an argument, which would be in
    the shell's history and the process list."""
    from gateway.bsn import Bsn
    from gateway.errors import InvalidRequest, Problem

    text = (
        typer.prompt("BSN", hide_input=True, err=True)
        if sys.stdin.isatty()
        else sys.stdin.readline().rstrip("\n")
    )
    try:
        return Bsn(text)
    except ValueError:
        raise InvalidRequest([Problem("bsn", "not a valid BSN")]) from None


@contextlib.contextmanager
def _progress(access: Any, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on standard error (the output itself stays clean for pipes)."""
    total = access.store.count()
    with typer.progressbar(length=total, label=label, file=sys.stderr, show_pos=True) as bar:
        yield lambda: bar.update(1)


def _verified(access: Any) -> None:
    from gateway.ledger.verify import verify_store

    verify_store(access.store, access.ledger_key)


@audit_app.command("report")
def audit_report(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    auditor_dir: AuditorDirOption = None,
    public_key: PublicKeyOption = None,
    html_out: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as HTML to this file.")
    ] = None,
) -> None:
    """A data subject's access report (GDPR art. 15) as JSON: who received which data about
    the person, when, for which purpose, on which legal basis. The BSN is read from a hidden
    prompt or standard input. The ledger is verified first."""
    from gateway.audit.report import report_html, subject_report
    from gateway.files import write_private

    access = _auditor(home, database_url, auditor_dir, public_key)
    bsn = _read_bsn()
    _verified(access)
    report = subject_report(access, bsn)
    if html_out is not None:
        write_private(html_out, report_html(report).encode())
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False))


@audit_app.command("entries")
def audit_entries(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    auditor_dir: AuditorDirOption = None,
    public_key: PublicKeyOption = None,
    bsn: Annotated[
        bool, typer.Option("--bsn", help="Only entries about one person (BSN asked for).")
    ] = False,
    organisation: Annotated[str | None, typer.Option(help="Requester OIN.")] = None,
    purpose: Annotated[str | None, typer.Option(help="Purpose id.")] = None,
    case: Annotated[str | None, typer.Option(help="Case id.")] = None,
    outcome: Annotated[str | None, typer.Option(help="permit, partial or deny.")] = None,
    action: Annotated[
        str | None,
        typer.Option(help="e.g. disclosure.decision, disclosure.fetch, case.link."),
    ] = None,
    review: Annotated[bool, typer.Option("--review", help="Only break-glass entries.")] = False,
    since: Annotated[str | None, typer.Option(help="From (RFC 3339, inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Until (RFC 3339, exclusive).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Include the opened bodies.")] = False,
) -> None:
    """Ledger entries matching every filter given, one JSON object per line (public header;
    with --open also the decrypted body). Only matching entries are decrypted."""
    from gateway.audit.export import entry_summary
    from gateway.audit.query import Filter, entries

    access = _auditor(home, database_url, auditor_dir, public_key)
    subject = access.pseudonym(_read_bsn()) if bsn else None
    where = Filter(
        subject=subject,
        requester_oin=organisation,
        purpose=purpose,
        case_id=case,
        outcome=outcome,
        review=True if review else None,
        action=action,
        since=since,
        until=until,
    )
    for row in entries(access.store, where):
        doc = entry_summary(row)
        if open_:
            doc["body"] = access.body(row)
        typer.echo(json.dumps(doc, ensure_ascii=False))


@audit_app.command("export")
def audit_export(
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="ldv (Logboek Dataverwerkingen 1.0), adl (Authorization Decision Log 1.0), "
            "jsonl (every entry, opened) or csv (public headers only).",
        ),
    ] = "jsonl",
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    auditor_dir: AuditorDirOption = None,
    public_key: PublicKeyOption = None,
    since: Annotated[str | None, typer.Option(help="From (RFC 3339, inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Until (RFC 3339, exclusive).")] = None,
) -> None:
    """Export the ledger for interchange, one record per line on standard output (mapping:
    docs/exports.md). The ledger is verified first."""
    from gateway.audit.export import export
    from gateway.audit.query import Filter
    from gateway.errors import InvalidRequest, Problem

    if fmt not in ("ldv", "adl", "jsonl", "csv"):
        raise InvalidRequest([Problem("--format", "one of ldv, adl, jsonl, csv")])
    access = _auditor(home, database_url, auditor_dir, public_key)
    _verified(access)
    where = Filter(since=since, until=until)
    with _progress(access, "exporting") as tick:
        for line in export(access, fmt, where, tick):  # type: ignore[arg-type]
            typer.echo(line)


@audit_app.command("retention")
def audit_retention(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Destroy the keys listed (irreversible). Without it: list."),
    ] = False,
    today: Annotated[
        str | None,
        typer.Option(help="The date to count retention to (YYYY-MM-DD). [default: today]"),
    ] = None,
) -> None:
    """List (or with --apply destroy) the period keys of ledger bodies past their purpose's
    retention (`retention_years` in the catalogue). Their bodies become unreadable; the ledger
    still verifies, checkpoints included. Needs write access to the database, not the
    auditor's key."""
    from datetime import date

    from gateway.audit.retention import due, shred
    from gateway.catalog import Catalog
    from gateway.errors import InvalidRequest, Problem
    from gateway.ledger.stores import open_store
    from gateway.policy.bundle import load_policy_set

    settings = _settings(home)
    try:
        when = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise InvalidRequest([Problem("--today", "not a date (YYYY-MM-DD)")]) from None
    url = database_url or settings.resolved_database_url
    store = open_store(url, writable=apply)
    catalog = Catalog(load_policy_set(settings.resolved_policy_dir).catalog)
    periods = due(store, catalog, when)
    for p in periods:
        typer.echo(
            f"{p.scope:28} {p.period}  retention {p.retention_years} y, ended {p.expired_on}"
        )
    if not periods:
        typer.echo("no period is past its retention")
    elif apply:
        shred(store, periods)
        typer.echo(f"destroyed {len(periods)} period key(s)")
    else:
        typer.echo("(list only; --apply destroys them)")


@audit_app.command("anomalies")
def audit_anomalies(
    home: HomeOption = None,
    database_url: DatabaseOption = None,
    auditor_dir: AuditorDirOption = None,
    public_key: PublicKeyOption = None,
) -> None:
    """Where to look first, as JSON: break-glass releases to review, denials per
    organisation, requests on closed cases, and days of unusual volume per organisation."""
    from gateway.audit.report import anomalies

    access = _auditor(home, database_url, auditor_dir, public_key)
    _verified(access)
    with _progress(access, "scanning") as tick:
        found = anomalies(access, progress=tick)
    typer.echo(json.dumps(found, indent=2))


# -- the API document --------------------------------------------------------------------------


@app.command("openapi")
def openapi_document(
    home: HomeOption = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The public base URL to put in `servers`. [default: GATEWAY_PUBLIC_URL, else "
            "http://HOST:PORT]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the OpenAPI document (JSON) exactly as the gateway serves it at /v1/openapi.json."""
    from gateway.api.app import document
    from gateway.catalog import Catalog
    from gateway.policy.bundle import load_policy_set

    settings = _settings(home, public_url=public_url)
    catalog = Catalog(load_policy_set(settings.resolved_policy_dir).catalog)
    doc = document(settings.resolved_public_url, catalog)
    typer.echo(json.dumps(doc, indent=2, ensure_ascii=False))


# -- serving -----------------------------------------------------------------------------------


def _serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    from gateway.api.app import create_app
    from gateway.api.deadlines import use_head_deadline
    from gateway.api.server import apply_environment, return_large_buffers
    from gateway.logging import configure_logging
    from gateway.runtime import build_gateway

    return_large_buffers()

    if workers > 1 and settings.console_local_provider:
        from gateway.errors import ConfigurationError

        # Its codes live in one process's memory (gateway/console/provider.py).
        raise ConfigurationError(
            "the local console provider serves one process: use --workers 1, or set "
            "GATEWAY_CONSOLE_OIDC_ISSUER to your organisation's provider"
        )
    # Every start-up check runs here, once, before a worker exists.
    gw = build_gateway(settings)
    if gw.active.current.origin.get("kind") != "bundle":
        typer.secho(
            "UNSIGNED POLICY: development mode enforces the policy directory "
            f"{gw.active.current.origin.get('path')} without a signature.",
            fg=typer.colors.RED,
            err=True,
        )
    # NOTE: configure logging only once the instance is up; structlog binds the stream it
    # writes to, and a failed start must leave the caller's streams alone.
    configure_logging()
    # NOTE: no access log (a URL is never logged) and no proxy-header handling here:
    # gateway.auth.transport alone decides which forwarded headers to believe.
    common: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": False,
        "timeout_graceful_shutdown": 10,
        # No "server: uvicorn" on every answer: it tells an outsider what to attack.
        "server_header": False,
        # httptools with a deadline for each request's head (gateway/api/deadlines.py).
        "http": use_head_deadline(settings.request_head_seconds),
    }
    if workers > 1:
        gw.close()
        apply_environment(settings)
        uvicorn.run("gateway.api.server:worker_app", factory=True, workers=workers, **common)
        return
    try:
        uvicorn.run(create_app(gw), **common)
    finally:
        gw.close()


WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Worker processes sharing the port (one per core is a good start). They append to "
        "one ledger in one order and enforce the same policy bundle.",
    ),
]


@app.command("serve")
def serve(
    home: HomeOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = 1,
) -> None:
    """Serve a configured instance (its keys must exist; see `gateway keys init`)."""
    _serve(_settings(home, host=host, port=port), workers)


@app.command("demo")
def demo(
    home: HomeOption = None,
    host: HostOption = None,
    port: PortOption = None,
    serve_: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the region after seeding it.")
    ] = True,
) -> None:
    """Create keys if missing, seed the synthetic Zaanstreek-Waterland region, print how to try
    it (clients, persons, cases) and serve it."""
    from gateway.demo.guide import DEMO_AUDITOR_PASSPHRASE, guide
    from gateway.demo.seed import seed
    from gateway.keys import init_keys, keys_exist
    from gateway.runtime import auditor_passphrase, build_gateway, passphrase

    settings = _settings(home, host=host, port=port)
    if settings.console_oidc_issuer is None:
        # The consoles sign in at the shipped local provider with the demo's synthetic users.
        settings = _settings(home, host=host, port=port, console_local_provider=True)
    if settings.policy_bundle is None:
        # The demo runs the policy directory unsigned: development mode, named and announced.
        settings = _settings(
            home,
            host=host,
            port=port,
            policy_mode="development",
            console_local_provider=settings.console_local_provider,
        )
        typer.secho(
            "DEMO ONLY: enforcing the unsigned policy directory (GATEWAY_POLICY_MODE="
            "development); production enforces a signed bundle (`gateway policy build`).",
            fg=typer.colors.RED,
            err=True,
        )
    if not keys_exist(settings.keys_dir):
        init_keys(
            settings.keys_dir,
            passphrase(settings),
            auditor_dir=settings.resolved_auditor_dir,
            auditor_passphrase=auditor_passphrase(settings) or DEMO_AUDITOR_PASSPHRASE,
        )
        typer.echo(f"generated keys in {settings.keys_dir}")
        if not auditor_passphrase(settings):
            typer.secho(
                f"DEMO ONLY: the auditor key in {settings.resolved_auditor_dir} is encrypted "
                f"with the published demo passphrase {DEMO_AUDITOR_PASSPHRASE.decode()!r}. "
                "Never use a demo home for real data.",
                fg=typer.colors.RED,
                err=True,
            )
    gw = build_gateway(settings, connectors={})
    try:
        secrets_file = settings.var_dir / "demo-secrets.json"
        case_ids = seed(gw, secrets_file)
        secrets = json.loads(secrets_file.read_text())["clients"]
        typer.echo(guide(gw, settings, secrets, case_ids))
    finally:
        gw.close()
    if serve_:
        _serve(settings)


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("PYTHONUTF8", "1")
    app(prog_name="gateway")
