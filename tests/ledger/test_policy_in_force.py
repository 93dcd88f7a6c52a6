"""One policy version at a time, in ledger order: a decision is recorded only under the version
of the newest activation, whichever writer (process) activated it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.db import create_schema, make_engine
from gateway.errors import PolicySuperseded
from gateway.ledger.integrity import policy_in_force
from gateway.ledger.stores import LedgerStore, MemoryStore, store_for
from gateway.ledger.writer import Ledger, Receipt, Record
from gateway.testing import sample_record

SIGNING = Ed25519PrivateKey.generate()
AUDITOR = X25519PrivateKey.generate().public_key()


def decision(version: str, n: int = 0, action: str = "disclosure.decision") -> Record:
    record = sample_record(n)
    return replace(record, facts=replace(record.facts, policy_version=version, action=action))  # type: ignore[arg-type]


def activation(version: str) -> Record:
    return Record.gateway_event("policy.activate", version, {"version": version})


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerStore:
    if request.param == "memory":
        return MemoryStore()
    engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    create_schema(engine)
    return store_for(engine)


def test_a_decision_under_a_superseded_version_is_refused_alone(store: LedgerStore) -> None:
    worker_a = Ledger(store, SIGNING, AUDITOR)
    worker_b = Ledger(store, SIGNING, AUDITOR)
    told: list[str] = []
    worker_b.on_superseded = told.append
    worker_a.append(activation("v1"))
    worker_b.append(decision("v1", 1))
    worker_a.append(activation("v2"))  # another process moves on
    assert policy_in_force(store) == "v2"
    size = store.count()

    with pytest.raises(PolicySuperseded):
        worker_b.append(decision("v1", 2))
    assert store.count() == size and told == ["v2"]

    # In one group: the stale decision is refused, the rest is written in order; a fetch entry
    # completing an earlier decision is not a decision and is kept.
    group = [
        worker_b.prepare(decision("v1", 3)),
        worker_b.prepare(decision("v2", 4)),
        worker_b.prepare(decision("v1", 5, action="disclosure.fetch")),
    ]
    results = worker_b.commit_each(group)
    assert isinstance(results[0], PolicySuperseded)
    assert isinstance(results[1], Receipt) and isinstance(results[2], Receipt)
    assert results[2].seq == results[1].seq + 1 == size + 2
    assert store.count() == size + 2


def test_an_activation_in_the_same_group_moves_the_version_in_force(store: LedgerStore) -> None:
    ledger = Ledger(store, SIGNING, AUDITOR)
    ledger.append(activation("v1"))
    results = ledger.commit_each(
        [
            ledger.prepare(r)
            for r in (decision("v1"), activation("v2"), decision("v1"), decision("v2"))
        ]
    )
    assert [type(r).__name__ for r in results] == [
        "Receipt",
        "Receipt",
        "PolicySuperseded",
        "Receipt",
    ]
