"""From signal to case: a regisseur starts a case from a match in one call.

The case gets the two organisations of the match as participants and the person linked. The
person is named by BSN in the request (the regisseur's organisation signalled them, so it knows
whom), and the BSN must be the person behind the requester's own signal: a match can never be
used to link someone else.
"""

from __future__ import annotations

from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.cases.models import CaseRow
from gateway.cases.registry import CaseRegistry
from gateway.errors import Conflict, InvalidRequest, Problem
from gateway.signals.service import SignalService
from gateway.typing import Relation


class SignalCases:
    def __init__(self, signals: SignalService, cases: CaseRegistry) -> None:
        self._signals = signals
        self._cases = cases

    def start(
        self,
        principal: Principal,
        match_id: str,
        bsn: Bsn,
        purpose: str,
        relation: Relation = "hoofdpersoon",
        minor: bool = False,
    ) -> CaseRow:
        mine, other = self._signals.reader.match_for(principal, match_id)
        if not self._signals.reader.pseudonym_matches(mine.id, bsn):
            raise InvalidRequest([Problem("/bsn", "not the person of this match")])
        if mine.status != "active" or other.status != "active":
            raise Conflict("the match is no longer active (a signal was withdrawn or expired)")
        case = self._cases.create(principal, purpose, [other.org_oin])
        self._cases.link_subject(principal, case.id, bsn, relation, minor)
        return case
