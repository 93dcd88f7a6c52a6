from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.testing import TestGateway, make_console_gateway


@pytest.fixture(scope="module")
def cgw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestGateway]:
    """A demo gateway with the consoles and the local provider, shared by a module's tests."""
    gw = make_console_gateway(tmp_path_factory.mktemp("console-home"))
    yield gw
    gw.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[TestGateway]:
    gw = make_console_gateway(tmp_path)
    yield gw
    gw.close()
