from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.testing import ServedDemo, served_demo


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    """One `gateway demo` process for the end-to-end tests, with encrypted keys."""
    with served_demo(
        tmp_path_factory.mktemp("demo-home"), env={"GATEWAY_KEY_PASSPHRASE": "demo-pass"}
    ) as running:
        yield running
