from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.demo import PERSONS_BY_KEY
from gateway.testing import TestGateway, make_test_gateway


@pytest.fixture(scope="session")
def shared_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestGateway]:
    """One demo gateway for tests that only read cases (disclosures append to its ledger)."""
    yield make_test_gateway(tmp_path_factory.mktemp("shared-home"))


@pytest.fixture
def gw(tmp_path: Path) -> TestGateway:
    """A fresh demo gateway for tests that change state or break parts of it."""
    return make_test_gateway(tmp_path)


def bsn(key: str) -> str:
    return PERSONS_BY_KEY[key].bsn
