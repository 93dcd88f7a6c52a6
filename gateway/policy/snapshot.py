"""The policy in force, as one value per request.

A :class:`PolicySnapshot` holds what a decision needs — the engine, the catalogue and the
version, and where they came from. A request takes :attr:`ActivePolicy.current` once and uses
only that snapshot, so a reload in the middle of a request can never mix two versions in one
decision or record another version than the one that decided. Replacing the snapshot is one
reference assignment: atomic for every reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.catalog import Catalog
from gateway.policy.bundle import PolicySet
from gateway.policy.engine import PolicyEngine


@dataclass(frozen=True)
class PolicySnapshot:
    policy: PolicySet
    engine: PolicyEngine
    catalog: Catalog
    origin: Mapping[str, str]
    """Where it came from: ``kind`` (bundle or directory), and for a bundle its path, file
    digest, revision, signer and creation time."""

    @property
    def version(self) -> str:
        return self.policy.version


class ActivePolicy:
    def __init__(self, snapshot: PolicySnapshot) -> None:
        self._snapshot = snapshot

    @property
    def current(self) -> PolicySnapshot:
        return self._snapshot

    def replace(self, snapshot: PolicySnapshot) -> None:
        self._snapshot = snapshot
