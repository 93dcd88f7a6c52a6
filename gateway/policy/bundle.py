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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigurationError
from gateway.yamlload import load_yaml

ENTRYPOINT = "sharing/decision"
EXPLANATION = "sharing/explanation"
"""Optional: the rule path behind a decision (`gateway policy explain`, the dry run)."""
SIGNAL_ENTRYPOINT = "signals/decision"
"""Optional: who may signal on what, and which signals match (policies/signals.rego)."""


@dataclass(frozen=True)
class PolicySet:
    version: str
    modules: Mapping[str, str]
    """Policy modules by file name (tests excluded)."""
    tests: Mapping[str, str]
    catalog: Mapping[str, Any]
    cases: Mapping[str, Any] = field(default_factory=dict)
    """Test cases as data (``tests/*.yaml``): requests and their expected decisions, by file."""

    @property
    def has_signals(self) -> bool:
        """Whether a module defines the signals entrypoint (a policy without one denies every
        signal: "policy_undefined")."""
        return any(_declares(source, "signals") for source in self.modules.values())

    @property
    def data(self) -> dict[str, Any]:
        return {"catalog": dict(self.catalog)}


def _declares(source: str, package: str) -> bool:
    return any(line.strip() == f"package {package}" for line in source.splitlines())


POLICY_SUFFIXES = (".rego", ".yaml", ".yml")


def policy_files(root: Path) -> dict[str, bytes]:
    """The files of the policy directory ``root`` that make up a policy set, by relative path."""
    if not (root / "sharing.rego").is_file():
        raise ConfigurationError(f"no sharing.rego in policy directory {root}")
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix in POLICY_SUFFIXES
    }


def load_policy_set(root: Path, *, validate: bool = True) -> PolicySet:
    """The policy set in ``root``; its catalogue is validated (``validate=False`` only for
    reading historical policy sets, e.g. the fixture of a policy with known defects)."""
    return policy_set_from_files(policy_files(root), str(root), validate=validate)


def policy_version(files: Mapping[str, bytes]) -> str:
    """SHA-256 over every file's relative path and content hash, in path order."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return "sha256:" + digest.hexdigest()


def policy_set_from_files(
    files: Mapping[str, bytes], where: str, *, validate: bool = True
) -> PolicySet:
    if "sharing.rego" not in files:
        raise ConfigurationError(f"no sharing.rego in {where}")
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    catalog: dict[str, Any] = {}
    cases: dict[str, Any] = {}
    for rel in sorted(files):
        try:
            text = files[rel].decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError(f"{where}: {rel} is not UTF-8") from None
        if rel.endswith(".rego"):
            (tests if rel.removesuffix(".rego").endswith("_test") else modules)[rel] = text
        elif rel.startswith("tests/"):
            try:
                cases[rel] = load_yaml(text) or []
            except yaml.YAMLError as exc:
                raise ConfigurationError(
                    f"{where}: {rel} is not YAML ({exc.__class__.__name__})"
                ) from None
        elif rel.startswith("catalog/"):
            try:
                doc = load_yaml(text) or {}
            except yaml.YAMLError as exc:
                raise ConfigurationError(
                    f"{where}: {rel} is not YAML ({exc.__class__.__name__})"
                ) from None
            if not isinstance(doc, dict):
                raise ConfigurationError(f"{rel}: expected a mapping at the top level")
            overlap = catalog.keys() & doc.keys()
            if overlap:
                raise ConfigurationError(f"{rel}: keys defined twice: {sorted(overlap)}")
            catalog.update(doc)
    if validate:
        from gateway.policy.catalog_schema import validate_catalog

        validate_catalog(catalog, where)
    return PolicySet(
        version=policy_version(files), modules=modules, tests=tests, catalog=catalog, cases=cases
    )
