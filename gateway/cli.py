"""The ``gateway`` command. Errors from :mod:`gateway.errors` map to exit codes in one place
(:func:`_run`); nothing here prints a stack trace for an expected failure."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from gateway.errors import GatewayError
from gateway.settings import Settings

app = typer.Typer(
    help=(
        "Purpose-bound information-sharing gateway for care-and-safety partners.\n\n"
        "Every command works on one data directory (--home or GATEWAY_HOME; default: the "
        "current directory) holding keys/, var/ (databases) and optionally policies/."
    ),
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Generate the instance's keys.", no_args_is_help=True)
policy_app = typer.Typer(help="Work with the Rego policy set.", no_args_is_help=True)
ledger_app = typer.Typer(help="Verify the access ledger.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(policy_app, name="policy")
app.add_typer(ledger_app, name="ledger")

T = TypeVar("T")
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", envvar="GATEWAY_HOME", help="Data directory (keys, databases, policies)."
    ),
]


def _settings(home: Path | None, **overrides: object) -> Settings:
    if home is not None:
        overrides["home"] = home.resolve()
    return Settings(**overrides)  # type: ignore[arg-type]


def _run(fn: Callable[[], T]) -> T:
    """The CLI's one error handler: a GatewayError becomes a message and its exit code."""
    try:
        return fn()
    except GatewayError as exc:
        typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exc.exit_code) from None
    except FileExistsError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(73) from None


# -- keys --------------------------------------------------------------------------------------


@keys_app.command("init")
def keys_init(
    home: HomeOption = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Replace existing keys (old ledger entries stay "
            "verifiable only with the old public key)."
        ),
    ] = False,
) -> None:
    """Generate the token-signing, ledger-signing, auditor and pseudonymisation keys.

    Private keys are encrypted with GATEWAY_KEY_PASSPHRASE when it is set. Move keys/auditor.key
    to the auditor's offline storage: the gateway needs only keys/auditor.pub.
    """
    from gateway.keys import init_keys
    from gateway.runtime import passphrase

    settings = _settings(home)
    paths = _run(lambda: init_keys(settings.keys_dir, passphrase(settings), force=force))
    for path in paths:
        typer.echo(f"wrote {path}")
    if not passphrase(settings):
        typer.secho(
            "note: GATEWAY_KEY_PASSPHRASE is not set; private keys are unencrypted.",
            fg=typer.colors.YELLOW,
            err=True,
        )


# -- tokens ------------------------------------------------------------------------------------


@app.command("token")
def token(
    client_id: Annotated[str | None, typer.Argument(help="A registered client id.")] = None,
    home: HomeOption = None,
    list_: Annotated[bool, typer.Option("--list", help="List the registered clients.")] = False,
) -> None:
    """Print an access token for a registered client (local use), or list the clients."""
    from gateway.auth.clients import AuthlibClient, get_client, list_clients
    from gateway.runtime import build_gateway

    gw = _run(lambda: build_gateway(_settings(home), connectors={}))
    if list_:
        rows = list_clients(gw.db)
        if not rows:
            typer.echo("no clients registered (run `gateway demo` for the demo region)")
        for row in rows:
            typer.echo(
                f"{row.client_id:24} {row.org_type:17} {row.role:24} {row.oin}  {row.organisation}"
            )
        return
    if client_id is None:
        typer.secho("error: give a CLIENT_ID or --list", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    found = get_client(gw.db, client_id)
    if found is None:
        typer.secho(
            f"error: no registered client {client_id!r} (see `gateway token --list`)",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(66)
    typer.echo(gw.token_generator.mint(AuthlibClient(found))["access_token"])


# -- policy ------------------------------------------------------------------------------------


@policy_app.command("test")
def policy_test(
    home: HomeOption = None,
    policy_dir: Annotated[Path | None, typer.Option(help="Policy directory to test.")] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List passing tests too.")
    ] = False,
) -> None:
    """Run the policy set's Rego unit tests (*_test.rego); exit 1 on any failure."""
    from gateway.policy.bundle import load_policy_set
    from gateway.policy.unittest import run_policy_tests

    root = policy_dir or _settings(home).resolved_policy_dir
    policy = _run(lambda: load_policy_set(root))
    outcomes = _run(lambda: run_policy_tests(policy))
    failed = [o for o in outcomes if not o.passed]
    for o in outcomes:
        if verbose or not o.passed:
            mark = (
                typer.style("PASS", fg=typer.colors.GREEN)
                if o.passed
                else typer.style("FAIL", fg=typer.colors.RED)
            )
            typer.echo(f"{mark} {o.module}: {o.name}" + (f" — {o.detail}" if o.detail else ""))
    typer.echo(
        f"{len(outcomes) - len(failed)}/{len(outcomes)} policy tests passed ({policy.version[:19]})"
    )
    if not outcomes:
        typer.secho("error: no policy tests found", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if failed:
        raise typer.Exit(1)


# -- ledger ------------------------------------------------------------------------------------


@ledger_app.command("verify")
def ledger_verify(
    home: HomeOption = None,
    database_url: Annotated[
        str | None, typer.Option(help="Ledger database (default: the home's).")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="Ledger public key (default: keys/ledger-signing.pub).")
    ] = None,
) -> None:
    """Check every entry's hash, link and signature, and the signed head.

    Exits 0 when the ledger is intact, 1 naming the first bad entry otherwise. Needs only the
    ledger's public key.
    """
    from gateway.db import make_engine
    from gateway.keys import load_ledger_public
    from gateway.ledger.store import count_entries, read_entries, read_head
    from gateway.ledger.verify import verify_rows

    settings = _settings(home)
    key = _run(lambda: load_ledger_public(public_key.parent if public_key else settings.keys_dir))
    engine = make_engine(database_url or settings.resolved_database_url)
    from gateway.db import create_schema

    create_schema(engine)
    total = count_entries(engine)
    with typer.progressbar(length=total, label="verifying", file=sys.stderr, show_pos=True) as bar:
        report = _run(
            lambda: verify_rows(
                read_entries(engine), read_head(engine), key, progress=lambda _seq: bar.update(1)
            )
        )
    typer.echo(
        f"ledger intact: {report.entries} entries, head {report.head_seq} {report.head_hash[:16]}…"
    )


# -- serving -----------------------------------------------------------------------------------


def _serve(settings: Settings) -> None:
    import uvicorn

    from gateway.api.app import create_app
    from gateway.logging import configure_logging
    from gateway.runtime import build_gateway

    gw = _run(lambda: build_gateway(settings))
    # NOTE: configure logging only once the instance is up; structlog binds the stream it
    # writes to, and a failed start must leave the caller's streams alone.
    configure_logging()
    uvicorn.run(
        create_app(gw),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        proxy_headers=True,
    )


@app.command("serve")
def serve(
    home: HomeOption = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
) -> None:
    """Serve a configured instance (keys must exist; see `gateway keys init`)."""
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    _serve(_settings(home, **overrides))


@app.command("demo")
def demo(
    home: HomeOption = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    serve_: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve after seeding.")] = True,
) -> None:
    """Create keys if missing, seed the synthetic Zaanstreek-Waterland region and serve it."""
    from gateway.demo import CLIENTS, PERSONS_BY_KEY, seed
    from gateway.keys import init_keys, keys_exist
    from gateway.runtime import build_gateway, passphrase

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = _settings(home, **overrides)
    if not keys_exist(settings.keys_dir):
        _run(lambda: init_keys(settings.keys_dir, passphrase(settings)))
        typer.echo(f"generated keys in {settings.keys_dir}")
    gw = _run(lambda: build_gateway(settings, connectors={}))
    secrets_file = settings.var_dir / "demo-secrets.json"
    case_ids = seed(gw, secrets_file)
    secrets = json.loads(secrets_file.read_text())["clients"]
    base = f"http://{settings.host}:{settings.port}"

    typer.echo(f"\nDemo region seeded in {settings.home} (policy {gw.engine.version[:19]}).")
    typer.echo("\nClients (client id, organisation type, role, secret):")
    for c in CLIENTS:
        typer.echo(f"  {c.client_id:24} {c.org_type:17} {c.role:24} {secrets[c.client_id]}")
    typer.echo("\nCases: " + ", ".join(f"{k}={v}" for k, v in case_ids.items()))
    bsn = PERSONS_BY_KEY["mda.ex_partner"].bsn
    typer.echo(
        "\nTry the MDA++ family overview as the municipality's procesregisseur:\n\n"
        f"  TOKEN=$(curl -s -u zaanstad-regie:{secrets['zaanstad-regie']} "
        f"-d grant_type=client_credentials {base}/oauth/token | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f'-d \'{{"case_id": "{case_ids["mda"]}", "bsn": "{bsn}"}}\' {base}/v1/disclosures\n\n'
        f"API docs: {base}/docs   OpenAPI: {base}/openapi.json\n"
    )
    if serve_:
        _serve(settings)


def main() -> None:  # pragma: no cover - console entry point
    os.environ.setdefault("PYTHONUTF8", "1")
    app()
