"""Instance configuration.

Everything lives under one data directory, the *home* (``--home DIR`` or ``GATEWAY_HOME``; the
current directory by default, so a checkout of this repository is itself a working home)::

    HOME/keys/             generated keys (see keys/README.md)
    HOME/var/gateway.db    SQLite: clients, cases, ledger
    HOME/var/sources/      the demo region's source databases, one per source system
    HOME/policies/         Rego and catalogue; falls back to the policies shipped with the package

The rest comes from ``GATEWAY_*`` environment variables through pydantic-settings.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE_POLICIES = Path(__file__).resolve().parent / "_policies"
_SOURCE_TREE_POLICIES = Path(__file__).resolve().parent.parent / "policies"


def bundled_policy_dir() -> Path:
    """The policies shipped with the code: the source tree's in a checkout, else the wheel's."""
    return _SOURCE_TREE_POLICIES if _SOURCE_TREE_POLICIES.is_dir() else _PACKAGE_POLICIES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True)

    home: Path = Field(default_factory=Path.cwd)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = None
    """The address clients use (OpenAPI `servers`); default http://HOST:PORT."""
    trusted_proxies: frozenset[str] = frozenset()
    """Peer addresses whose X-Forwarded-Proto/-For headers are believed. Empty: none are."""
    max_body_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    """Larger request bodies are refused with 413 before they are read further."""
    request_head_seconds: float = Field(default=10.0, gt=0, le=300)
    """A connection whose request head is not complete within this is closed (slow senders)."""
    request_body_seconds: float = Field(default=30.0, gt=0, le=600)
    """A request body not complete within this is answered 408 (the largest, a 4 MiB policy
    bundle for the console's replay, needs ~1 Mbit/s at the default)."""

    issuer: str = "urn:nl:zorg-veiligheid:gateway"
    audience: str = "urn:nl:zorg-veiligheid:sharing-api"
    token_ttl_seconds: int = Field(default=900, gt=0, le=3600)
    token_max_lifetime_seconds: int = Field(default=3600, gt=0, le=86_400)
    """A presented token whose exp - iat exceeds this is refused, even if correctly signed."""
    clock_leeway_seconds: int = Field(default=30, ge=0, le=300)
    auth_failures_per_client: int = Field(default=5, ge=1)
    auth_failures_per_peer: int = Field(default=20, ge=1)
    auth_failure_window_seconds: int = Field(default=60, ge=1)
    auth_workers: int = Field(default=2, ge=1, le=64)

    database_url: str | None = None
    """SQLAlchemy URL of the gateway's own database; SQLite under HOME/var by default."""

    policy_dir: Path | None = None
    """Unsigned policies (development mode only): HOME/policies if present, else the shipped."""
    policy_bundle: Path | None = None
    """The signed policy bundle to enforce (`gateway policy build`); reloaded when it changes."""
    policy_mode: Literal["signed", "development"] = "signed"
    """`signed`: only a bundle signed by a key in HOME/keys/policy-signing.pub is enforced.
    `development`: the unsigned policy directory is, with a warning — never in production."""
    policy_reload_seconds: float = Field(default=10.0, gt=0)
    """How often a serving gateway looks for a new bundle at `policy_bundle`."""
    policy_engine: Literal["embedded", "opa"] = "embedded"
    policy_memo: bool = True
    """Remember the engine's answers per normalised input (gateway/policy/memo.py)."""
    policy_memo_verify_share: float = Field(default=0.01, ge=0, le=1)
    """Share of remembered answers evaluated again in the background, besides each answer's
    first hit (0 turns both off); a difference fails closed."""
    opa_url: str = "http://127.0.0.1:8181"
    policy_timeout_seconds: float = Field(default=1.0, gt=0)
    """How long one evaluation may run before it is cut off (a denial, `engine_timeout`)."""
    policy_queue_timeout_seconds: float = Field(default=2.0, gt=0)
    """How long an evaluation may wait for a free policy worker (then `engine_timeout`)."""
    policy_workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), ge=1, le=64)
    """Threads evaluating policy, each with its own interpreter."""
    ledger_timeout_seconds: float = Field(default=5.0, gt=0)
    checkpoint_dir: Path | None = None
    """Where signed ledger checkpoints are written, outside the database; HOME/checkpoints by
    default. Point it at storage the database's operator role cannot rewrite."""
    checkpoint_interval_seconds: float = Field(default=300.0, gt=0)
    """How often a serving gateway writes a checkpoint when the ledger has grown."""

    connector_timeout_seconds: float = Field(default=3.0, gt=0)
    connector_workers: int = Field(default=4, ge=1, le=64)
    ledger_workers: int = Field(default=16, ge=1, le=256)
    """Requests that may wait on the ledger at once; their entries are committed together."""
    """Threads per source system: a hung source can hold only its own."""
    sources: dict[str, str] = Field(default_factory=dict)
    """Source id -> SQLAlchemy URL. Sources not listed use HOME/var/sources/<id>.db."""

    signal_expire_interval_seconds: float = Field(default=60.0, gt=0)
    """How often a serving gateway runs the signals' clock (expire, destroy, settle)."""
    webhook_interval_seconds: float = Field(default=2.0, gt=0)
    """How often a serving gateway sends due webhook deliveries."""
    webhook_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    webhook_max_attempts: int = Field(default=10, ge=1, le=50)
    """Attempts per delivery (back-off 30 s doubling to 6 h: ten attempts span about a day);
    then the delivery is given up (and ledgered as such). Pull always has the match."""
    webhook_allow_http: bool = False
    """Allow plain-http webhook URLs (development and tests on loopback only)."""

    console_oidc_issuer: str | None = None
    """The OpenID provider console users sign in with (its issuer URL; discovery at
    ``/.well-known/openid-configuration``). Unset: the local provider, if enabled."""
    console_oidc_client_id: str = "gateway-console"
    console_oidc_client_secret: SecretStr | None = None
    """For a provider that wants a confidential client; PKCE is used either way."""
    console_roles_claim: str = "roles"
    """The ID-token claim listing the user's roles (`privacy_officer`, `auditor`)."""
    console_local_provider: bool = False
    """Serve the small local OpenID provider at /local-idp (demo and tests; never production)."""
    console_users_file: Path | None = None
    """The local provider's users (YAML); the demo's synthetic users by default."""
    console_idle_minutes: int = Field(default=15, ge=1, le=120)
    """A console session unused this long is over."""
    console_session_hours: int = Field(default=8, ge=1, le=24)
    """A console session is over this long after sign-in, used or not."""
    console_cookie_secure: bool = True
    """Send the console's cookies only over https (browsers treat http://localhost as secure)."""

    key_passphrase: SecretStr | None = None
    """Encrypts private keys at rest (``GATEWAY_KEY_PASSPHRASE``)."""
    auditor_dir: Path | None = None
    """Where `keys init` puts the auditor's key pair; HOME/auditor by default. It is for the
    auditor to take away: the server never reads it and refuses a private auditor key in
    HOME/keys."""
    auditor_passphrase: SecretStr | None = None
    """The auditor's passphrase for auditor.key (``GATEWAY_AUDITOR_PASSPHRASE``); needed by
    `keys init` and the auditor's own tools, never by the server."""

    @model_validator(mode="after")
    def _ttl_within_maximum(self) -> Settings:
        if self.token_ttl_seconds > self.token_max_lifetime_seconds:
            raise ValueError("token_ttl_seconds exceeds token_max_lifetime_seconds")
        return self

    @cached_property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @cached_property
    def resolved_auditor_dir(self) -> Path:
        return self.auditor_dir or self.home / "auditor"

    @cached_property
    def resolved_checkpoint_dir(self) -> Path:
        return self.checkpoint_dir or self.home / "checkpoints"

    @cached_property
    def var_dir(self) -> Path:
        return self.home / "var"

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'gateway.db'}"

    @cached_property
    def resolved_policy_dir(self) -> Path:
        if self.policy_dir is not None:
            return self.policy_dir
        local = self.home / "policies"
        return local if (local / "sharing.rego").is_file() else bundled_policy_dir()

    def source_url(self, source: str) -> str:
        if source in self.sources:
            return self.sources[source]
        return f"sqlite:///{self.var_dir / 'sources' / (source + '.db')}"
