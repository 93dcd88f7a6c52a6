"""Start-up refuses what a key, a file or a row could have changed underneath it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.keys import AUDITOR_PUBLIC, init_keys
from gateway.runtime import build_gateway
from gateway.testing import TEST_AUDITOR_PASSPHRASE, demo_bsn, make_test_gateway


def test_a_swapped_auditor_key_stops_the_server_once_the_ledger_has_entries(
    tmp_path: Path,
) -> None:
    gw = make_test_gateway(tmp_path / "home")
    r = gw.client.post(
        "/v1/disclosures",
        json={"case_id": gw.case_ids["pga"], "bsn": demo_bsn("pga.veelpleger")},
        headers=gw.auth("zaanstad-regie"),
    )
    assert r.status_code == 200
    settings = gw.gateway.settings
    gw.close()
    other = tmp_path / "other"
    init_keys(
        other / "keys",
        None,
        auditor_dir=other / "auditor",
        auditor_passphrase=TEST_AUDITOR_PASSPHRASE,
    )
    shutil.copy(other / "keys" / AUDITOR_PUBLIC, settings.keys_dir / AUDITOR_PUBLIC)
    with pytest.raises(ConfigurationError, match="not the key the ledger seals for"):
        build_gateway(settings, connectors={})
