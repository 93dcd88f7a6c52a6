"""OPA as a sidecar, through ``opa-python-client`` (``GATEWAY_POLICY_ENGINE=opa``).

At start-up the gateway loads its own policy set into the OPA at ``GATEWAY_OPA_URL`` — every
module under ``gateway/<file>`` and the catalogue at ``data.catalog`` — reads the catalogue back
and refuses to start if OPA does not hold exactly what was sent. Each decision is then
``POST /v1/data/sharing/decision``. Any failure (OPA down, slow, an error answer) is an
:class:`EngineError`, which the decision core turns into a denial.

One OPA per gateway instance (a sidecar): two gateway versions loading different policies into
one OPA would overwrite each other.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from opa_client import OpaClient

from gateway.errors import ConfigurationError, EngineError, PolicyUnavailable
from gateway.policy.bundle import PolicySet

_PREFIX = "gateway"


def _client(url: str, timeout: float) -> OpaClient:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"GATEWAY_OPA_URL must be http(s)://host:port, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 8181)
    # NOTE: no retries: a decision that cannot be made in time is a denial, not a wait.
    return OpaClient(
        host=parts.hostname, port=port, ssl=parts.scheme == "https", timeout=timeout, retries=0
    )


class SidecarEngine:
    def __init__(self, policy: PolicySet, url: str, timeout: float) -> None:
        self._version = policy.version
        self._url, self._timeout = url, timeout
        self._local = threading.local()
        self._load(policy)

    @property
    def version(self) -> str:
        return self._version

    def _load(self, policy: PolicySet) -> None:
        client = _client(self._url, max(self._timeout, 5.0))
        try:
            for name, source in sorted(policy.modules.items()):
                client.update_policy_from_string(source, f"{_PREFIX}/{name}", rego_compat=False)
            client.update_or_create_data(policy.data["catalog"], "catalog")
            held = client.get_data("catalog").get("result")
        except Exception as exc:  # the client raises its own error types, and requests its own
            raise PolicyUnavailable(
                f"the OPA sidecar at {self._url} did not take the policy set "
                f"({exc.__class__.__name__}: {str(exc)[:300]})"
            ) from exc
        finally:
            client.close_connection()
        if held != policy.data["catalog"]:
            raise PolicyUnavailable(f"the OPA sidecar at {self._url} holds another catalogue")

    def evaluate(self, policy_input: Mapping[str, Any]) -> Any:
        return self._query(policy_input, "sharing")

    def evaluate_signal(self, policy_input: Mapping[str, Any]) -> Any:
        return self._query(policy_input, "signals")

    def _query(self, policy_input: Mapping[str, Any], package: str) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = _client(self._url, self._timeout)
        try:
            answer = client.query_rule(dict(policy_input), package, "decision")
        except requests.RequestException as exc:
            raise EngineError(f"OPA sidecar: {exc.__class__.__name__}") from exc
        except ValueError as exc:
            raise EngineError("OPA sidecar: an answer that is not JSON") from exc
        if not isinstance(answer, dict):
            raise EngineError("OPA sidecar: an answer that is not an object")
        return answer.get("result")
