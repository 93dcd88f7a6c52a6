"""Loading a policy set from a directory: Rego modules, catalogue data and a version hash.

Layout (``policies/``)::

    sharing.rego           package sharing, entrypoint data.sharing.decision
    sharing_test.rego      unit tests (package sharing_test), run by `gateway policy test`
    catalog/*.yaml         merged into data.catalog (purposes, roles, sources, necessity)

The version is SHA-256 over every file's relative path and bytes, in sorted order, so any edit
— a test, a comment, a matrix cell — yields a new version that the ledger records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigurationError

ENTRYPOINT = "sharing/decision"


@dataclass(frozen=True)
class PolicySet:
    version: str
    modules: Mapping[str, str]
    """Policy modules by file name (tests excluded)."""
    tests: Mapping[str, str]
    catalog: Mapping[str, Any]

    @property
    def data(self) -> dict[str, Any]:
        return {"catalog": dict(self.catalog)}


def load_policy_set(root: Path, *, validate: bool = True) -> PolicySet:
    """The policy set in ``root``; its catalogue is validated (``validate=False`` only for
    reading historical policy sets, e.g. the fixture of a policy with known defects)."""
    if not (root / "sharing.rego").is_file():
        raise ConfigurationError(f"no sharing.rego in policy directory {root}")
    digest = hashlib.sha256()
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    catalog: dict[str, Any] = {}
    files = sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix in {".rego", ".yaml", ".yml"}
    )
    for path in files:
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        digest.update(rel.encode() + b"\0" + hashlib.sha256(raw).digest())
        text = raw.decode("utf-8")
        if path.suffix == ".rego":
            (tests if path.stem.endswith("_test") else modules)[rel] = text
        elif rel.startswith("catalog/"):
            doc = yaml.safe_load(text) or {}
            if not isinstance(doc, dict):
                raise ConfigurationError(f"{rel}: expected a mapping at the top level")
            overlap = catalog.keys() & doc.keys()
            if overlap:
                raise ConfigurationError(f"{rel}: keys defined twice: {sorted(overlap)}")
            catalog.update(doc)
    if validate:
        from gateway.policy.catalog_schema import validate_catalog

        validate_catalog(catalog, str(root))
    return PolicySet(
        version="sha256:" + digest.hexdigest(),
        modules=modules,
        tests=tests,
        catalog=catalog,
    )
