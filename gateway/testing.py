"""Test helpers that ship with the gateway (like structlog.testing): a complete gateway in a
temporary home with the demo region, a test token issuer, and in-memory sources.

    gw = make_test_gateway(tmp_path)
    r = gw.client.post("/v1/disclosures", json={...}, headers=gw.auth("politie-wijkagent"))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from connectors.interface import Connector
from connectors.memory import InMemoryConnector
from gateway.api.app import create_app
from gateway.auth.clients import AuthlibClient, get_client
from gateway.catalog import Catalog
from gateway.demo import source_records
from gateway.keys import init_keys, keys_exist
from gateway.policy.bundle import load_policy_set
from gateway.policy.engine import PolicyEngine
from gateway.runtime import Gateway, build_gateway
from gateway.settings import Settings


def memory_connectors(catalog: Catalog) -> dict[str, InMemoryConnector]:
    """One in-memory source per catalogue source, holding the demo region's records."""
    return {s: InMemoryConnector(s, source_records(catalog, s)) for s in catalog.sources}


@dataclass
class TestGateway:
    __test__ = False  # a helper, not a pytest test class

    gateway: Gateway
    client: TestClient
    case_ids: Mapping[str, str]
    connectors: Mapping[str, Connector]

    def token(self, client_id: str) -> str:
        """The test token issuer: a real signed token for a registered client."""
        row = get_client(self.gateway.db, client_id)
        if row is None:
            raise KeyError(f"no registered client {client_id!r}")
        return str(self.gateway.token_generator.mint(AuthlibClient(row))["access_token"])

    def auth(self, client_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(client_id)}"}


def make_test_gateway(
    home: Path,
    *,
    connectors: Mapping[str, Connector] | None = None,
    engine: PolicyEngine | None = None,
    passphrase: str | None = None,
) -> TestGateway:
    from gateway.demo import seed

    settings = Settings(home=home, key_passphrase=SecretStr(passphrase) if passphrase else None)
    if not keys_exist(settings.keys_dir):
        init_keys(settings.keys_dir, passphrase.encode() if passphrase else None)
    catalog = Catalog(load_policy_set(settings.resolved_policy_dir).catalog)
    chosen = connectors if connectors is not None else memory_connectors(catalog)
    gw = build_gateway(settings, connectors=chosen, engine=engine)
    case_ids = seed(gw, settings.var_dir / "demo-secrets.json")
    # NOTE: 127.0.0.1, not "testserver": authlib accepts client secrets only over TLS/loopback.
    client = TestClient(create_app(gw), base_url="http://127.0.0.1", raise_server_exceptions=False)
    return TestGateway(gateway=gw, client=client, case_ids=case_ids, connectors=chosen)
