"""A sealed BSN opens only in its own row."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from gateway.audit.subjects import open_subject_bsn
from gateway.cases.models import SubjectRow
from gateway.errors import LedgerCorrupted
from gateway.testing import TestGateway, demo_bsn


def test_each_row_opens_to_its_own_person_and_a_swap_is_refused(gw: TestGateway) -> None:
    key = gw.auditor_key()
    mda = gw.case_ids["mda"]
    with Session(gw.gateway.db) as session:
        rows = list(session.exec(select(SubjectRow).where(SubjectRow.case_id == mda)))
        opened = {open_subject_bsn(r, key) for r in rows}
        assert opened == {
            demo_bsn(p) for p in ("mda.moeder", "mda.ex_partner", "mda.kind1", "mda.kind2")
        }
        a, b = rows[0], rows[1]
        a.bsn_sealed, b.bsn_sealed = b.bsn_sealed, a.bsn_sealed
        session.add_all([a, b])
        session.commit()
        for row in (a, b):
            with pytest.raises(LedgerCorrupted, match="does not belong to its row"):
                open_subject_bsn(row, key)
