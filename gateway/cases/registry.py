"""Case registry operations. Authorisation here is about *managing* cases (only the regisseur
organisation changes a case); whether data may flow is the policy's decision, never this
module's."""

from __future__ import annotations

import json
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from gateway.auth.principal import Principal
from gateway.bsn import Bsn, Pseudonymiser
from gateway.cases.models import CaseRow, ConsentRow, ParticipantRow, SubjectRow
from gateway.catalog import Catalog
from gateway.clock import iso_now
from gateway.db import Reads, Sql
from gateway.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    Problem,
    RegistryTampered,
)
from gateway.ledger.entry import Action, Facts
from gateway.ledger.sealing import seal
from gateway.ledger.writer import Ledger, Record
from gateway.policy.snapshot import ActivePolicy
from gateway.rowseals import RowSeals, model_row
from gateway.typing import STAGES, SubjectPseudonym

log = structlog.get_logger("gateway.registry")


def subject_bsn_aad(case_id: str, pseudonym: str) -> bytes:
    """Associated data of a sealed BSN: its row (case and pseudonym). A sealed BSN moved to
    another row does not open there, so an auditor can never read the wrong person."""
    return b"gateway-subject-bsn-v2\0" + case_id.encode() + b"\0" + pseudonym.encode()


def _now() -> str:
    return iso_now("seconds")


@dataclass(frozen=True)
class CaseContext:
    """The case as the policy sees it. ``found=False`` when there is no such case."""

    id: str
    found: bool
    purpose: str = ""
    stage: str = ""
    status: str = ""
    participants: tuple[str, ...] = ()

    def policy_view(self) -> dict[str, object]:
        return {
            "found": self.found,
            "id": self.id,
            "purpose": self.purpose,
            "stage": self.stage,
            "status": self.status,
            "participants": list(self.participants),
        }


@dataclass(frozen=True)
class SubjectContext:
    pseudonym: SubjectPseudonym
    linked: bool
    relation: str = ""
    minor: bool = False
    consents: tuple[str, ...] = field(default=())

    def policy_view(self) -> dict[str, object]:
        return {
            "linked": self.linked,
            "relation": self.relation,
            "minor": self.minor,
            "consents": list(self.consents),
        }


# "case" is quoted: a reserved word in SQL (SQLite and PostgreSQL alike).
_CASE_COLUMNS = ("id", "purpose", "stage", "status", "regisseur_oin", "seal")
_LINK_COLUMNS = ("relation", "minor", "subject_ref", "bsn_sealed", "seal")
_CASE = Sql(f'SELECT {", ".join(_CASE_COLUMNS)} FROM "case" WHERE id = :case_id')  # noqa: S608
_PARTICIPANTS = Sql("SELECT oin FROM case_participant WHERE case_id = :case_id")
_LINK = Sql(
    f"SELECT {', '.join(_LINK_COLUMNS)} FROM case_subject"  # noqa: S608 - fixed names
    " WHERE case_id = :case_id AND subject = :subject"
)
_CONSENTS = Sql("SELECT source FROM case_consent WHERE case_id = :case_id AND subject = :subject")


_NO_CASE = dict.fromkeys(_CASE_COLUMNS, "") | {"seal": None}
_NO_LINK = dict.fromkeys(_LINK_COLUMNS, "") | {"minor": False, "seal": None}
"""Stand-in rows, sealed over where a case or link is not there: the same work either way."""


def _tampered(table: str) -> NoReturn:
    # NOTE: the table only: no case id, no pseudonym in a line anyone with the log can read.
    log.error("registry.seal_mismatch", table=table)
    raise RegistryTampered("a case registry row does not match its seal")


class CaseRegistry:
    """Cases and the people linked to them. Every change is processing of personal data, so it
    is ledgered first (``ledger``); if that fails, nothing changes."""

    def __init__(
        self,
        engine: Engine,
        policy: ActivePolicy,
        pseudonymiser: Pseudonymiser,
        auditor: X25519PublicKey,
        ledger: Ledger,
        seals: RowSeals,
    ) -> None:
        self._engine = engine
        self._seals = seals
        self._policy = policy
        self._pseudonymiser = pseudonymiser
        self._auditor = auditor
        self._ledger = ledger

    @property
    def _catalog(self) -> Catalog:
        # Case management uses the catalogue's vocabulary (purposes, sources, the matrix for
        # `askable`); it is read from the policy in force at the moment.
        return self._policy.current.catalog

    @property
    def _policy_version(self) -> str:
        return self._policy.current.version

    def _record(
        self,
        action: Action,
        principal: Principal,
        case: CaseRow,
        details: dict[str, object],
        subject: str = "",
    ) -> None:
        self._ledger.append(
            Record(
                Facts(
                    action=action,
                    policy_version=self._policy_version,
                    requester_oin=principal.oin,
                    purpose=case.purpose,
                    case_id=case.id,
                    outcome="permit",
                    review=False,
                ),
                subject=subject,
                body={"requester": principal.ledger_view(), **details},
            )
        )

    # -- reads used by the disclosure path ------------------------------------------------------

    def context(self, case_id: str, bsn: Bsn) -> tuple[CaseContext, SubjectContext]:
        pseudonym = self._pseudonymiser.pseudonym(bsn)
        # NOTE: the same four queries whether or not the case exists, so that the time an
        # answer takes does not tell an outsider which case ids are real. Plain statements on
        # the driver's cursor of one connection: this runs on every disclosure (gateway.db.Sql).
        params = {"case_id": case_id, "subject": pseudonym}
        with Reads(self._engine) as conn:
            case = _CASE.run(conn, params).fetchone()
            participants = [oin for (oin,) in _PARTICIPANTS.run(conn, params).fetchall()]
            link = _LINK.run(conn, params).fetchone()
            consents = [source for (source,) in _CONSENTS.run(conn, params).fetchall()]
        # Both seals are worked out whether or not the case and the link exist (over stand-in
        # rows where they do not): the same work either way, like the four queries above.
        case_row = dict(zip(_CASE_COLUMNS, case, strict=True)) if case else _NO_CASE
        link_row = dict(zip(_LINK_COLUMNS, link, strict=True)) if link else _NO_LINK
        case_ok = self._seals.check("case", case_row, participants=participants)
        link_ok = self._seals.check(
            "case_subject",
            {**link_row, "case_id": case_id, "subject": pseudonym},
            consents=consents,
        )
        if case is None:
            if participants or link is not None or consents:
                _tampered("case_participant")  # rows of a case that is not there
            return CaseContext(id=case_id, found=False), SubjectContext(pseudonym, linked=False)
        if not case_ok:
            _tampered("case")
        if (link is not None and not link_ok) or (link is None and consents):
            _tampered("case_subject")
        found_id, purpose, stage, status, _regisseur, _seal = case
        case_ctx = CaseContext(
            id=found_id,
            found=True,
            purpose=purpose,
            stage=stage,
            status=status,
            participants=tuple(sorted(participants)),
        )
        if link is None:
            return case_ctx, SubjectContext(pseudonym, linked=False)
        relation, minor, *_ = link
        return case_ctx, SubjectContext(
            pseudonym,
            linked=True,
            relation=relation,
            minor=bool(minor),
            consents=tuple(sorted(consents)),
        )

    def _check_case(self, session: Session, case: CaseRow) -> list[str]:
        """The case's participants, after checking the case against its seal (raises)."""
        participants = self._participants(session, case.id)
        if not self._seals.check("case", model_row(case), participants=participants):
            _tampered("case")
        return participants

    @staticmethod
    def _participants(session: Session, case_id: str) -> list[str]:
        return list(
            session.exec(select(ParticipantRow.oin).where(ParticipantRow.case_id == case_id))
        )

    def _check_subject(self, session: Session, row: SubjectRow) -> None:
        consents = session.exec(
            select(ConsentRow.source).where(
                ConsentRow.case_id == row.case_id, ConsentRow.subject == row.subject
            )
        )
        if not self._seals.check("case_subject", model_row(row), consents=consents):
            _tampered("case_subject")

    def _seal_case(self, case: CaseRow, participants: Iterable[str]) -> None:
        case.seal = self._seals.seal("case", model_row(case), participants=participants)

    # -- management by the regisseur ------------------------------------------------------------

    def create(self, principal: Principal, purpose: str, participants: Iterable[str]) -> CaseRow:
        if purpose not in self._catalog.purposes:
            raise InvalidRequest([Problem("/purpose", "not a registered purpose")])
        if principal.org_type not in self._catalog.regisseur_types(purpose):
            raise Forbidden("this organisation type cannot direct a case for this purpose")
        now = _now()
        case = CaseRow(
            id="case-" + secrets.token_hex(6),
            purpose=purpose,
            stage="aanmelding",
            regisseur_oin=principal.oin,
            created_at=now,
            updated_at=now,
        )
        members = sorted({principal.oin, *participants})
        self._seal_case(case, members)
        self._record("case.create", principal, case, {"participants": members})
        with Session(self._engine) as session:
            session.add(case)
            session.flush()
            for oin in members:
                session.add(ParticipantRow(case_id=case.id, oin=oin))
            session.commit()
            session.refresh(case)
        return case

    def _directed(self, session: Session, principal: Principal, case_id: str) -> CaseRow:
        case = session.get(CaseRow, case_id)
        # An organisation outside the case gets the answer an unknown case id gets: whether
        # the id exists is itself something only participants may know.
        if case is None or session.get(ParticipantRow, (case_id, principal.oin)) is None:
            raise NotFound("no such case")
        self._check_case(session, case)  # a change re-seals: never on a row nobody checked
        if case.regisseur_oin != principal.oin:
            raise Forbidden("only the case's regisseur organisation can change it")
        if case.status != "open":
            raise Conflict("the case is closed")
        return case

    def set_stage(self, principal: Principal, case_id: str, stage: str) -> CaseRow:
        if stage not in STAGES:
            raise InvalidRequest([Problem("/stage", f"must be one of {', '.join(STAGES)}")])
        with Session(self._engine) as session:
            case = self._directed(session, principal, case_id)
            # NOTE: the life cycle only moves forward; reopening means a new case, new ledger trail.
            if STAGES.index(stage) <= STAGES.index(case.stage):
                raise Conflict(f"a case at stage {case.stage} cannot move to {stage}")
            self._record("case.stage", principal, case, {"from": case.stage, "to": stage})
            case.stage = stage
            case.status = "closed" if stage == "afgesloten" else "open"
            case.updated_at = _now()
            self._seal_case(case, self._participants(session, case.id))  # checked above
            session.add(case)
            session.commit()
            session.refresh(case)
        return case

    def link_subject(
        self,
        principal: Principal,
        case_id: str,
        bsn: Bsn,
        relation: str,
        minor: bool,
        consents: Iterable[str] = (),
    ) -> SubjectRow:
        consents = list(consents)
        unknown = [s for s in consents if s not in self._catalog.sources]
        if unknown:
            raise InvalidRequest([Problem("/consents", "names a source that does not exist")])
        pseudonym = self._pseudonymiser.pseudonym(bsn)
        sealed = seal(bsn.digits.encode(), subject_bsn_aad(case_id, pseudonym), self._auditor)
        with Session(self._engine) as session:
            case = self._directed(session, principal, case_id)
            if session.get(SubjectRow, (case_id, pseudonym)) is not None:
                raise Conflict("this person is already linked to the case")
            details = {"relation": relation, "minor": minor, "consents": sorted(set(consents))}
            self._record("case.link", principal, case, details, subject=pseudonym)
            row = SubjectRow(
                case_id=case_id,
                subject=pseudonym,
                subject_ref="subj-" + secrets.token_hex(6),
                bsn_sealed=json.dumps(sealed.as_dict()),
                relation=relation,
                minor=minor,
            )
            row.seal = self._seals.seal("case_subject", model_row(row), consents=set(consents))
            session.add(row)
            for source in sorted(set(consents)):
                session.add(
                    ConsentRow(
                        case_id=case_id,
                        subject=pseudonym,
                        source=source,
                        recorded_at=_now(),
                        recorded_by=principal.oin,
                    )
                )
            session.commit()
            session.refresh(row)
        return row

    # -- what a participant sees -----------------------------------------------------------------

    def cases_for(self, principal: Principal) -> list[dict[str, object]]:
        """Every case the requester's organisation takes part in, each checked against its seal
        (and each linked person against theirs). Four queries whatever the number of cases:
        one per table, not one per case (an organisation in 1,000 cases made ~4,000)."""
        mine = select(ParticipantRow.case_id).where(ParticipantRow.oin == principal.oin)
        with Session(self._engine) as session:
            rows = session.exec(
                select(CaseRow)
                .where(col(CaseRow.id).in_(mine))
                .order_by(col(CaseRow.created_at), col(CaseRow.id))
            ).all()
            participants: dict[str, list[str]] = defaultdict(list)
            for case_id, oin in session.exec(
                select(ParticipantRow.case_id, ParticipantRow.oin).where(
                    col(ParticipantRow.case_id).in_(mine)
                )
            ):
                participants[case_id].append(oin)
            subjects: dict[str, list[SubjectRow]] = defaultdict(list)
            for subject in session.exec(
                select(SubjectRow)
                .where(col(SubjectRow.case_id).in_(mine))
                .order_by(col(SubjectRow.case_id), col(SubjectRow.subject_ref))
            ):
                subjects[subject.case_id].append(subject)
            consents: dict[tuple[str, str], list[str]] = defaultdict(list)
            for case_id, person, source in session.exec(
                select(ConsentRow.case_id, ConsentRow.subject, ConsentRow.source).where(
                    col(ConsentRow.case_id).in_(mine)
                )
            ):
                consents[(case_id, person)].append(source)
        out = []
        for case in rows:
            if not self._seals.check("case", model_row(case), participants=participants[case.id]):
                _tampered("case")
            for subject in subjects[case.id]:
                found = consents[(subject.case_id, subject.subject)]
                if not self._seals.check("case_subject", model_row(subject), consents=found):
                    _tampered("case_subject")
            out.append(self._case_view(principal, case, subjects[case.id]))
        return out

    def _case_view(
        self, principal: Principal, case: CaseRow, subjects: Iterable[SubjectRow]
    ) -> dict[str, object]:
        return {
            "case_id": case.id,
            "purpose": case.purpose,
            "purpose_title": self._catalog.purposes.get(case.purpose, {}).get("title", ""),
            "stage": case.stage,
            "status": case.status,
            "regisseur": case.regisseur_oin == principal.oin,
            "subjects": [
                {"subject_ref": s.subject_ref, "relation": s.relation, "minor": s.minor}
                for s in subjects
            ],
            "askable": self._askable(case, principal.role) if case.status == "open" else {},
        }

    def _askable(self, case: CaseRow, role: str) -> dict[str, list[dict[str, object]]]:
        """What this role may ask per source at this stage, per the necessity matrix; the
        purpose's break-glass fields of those sources are marked as such. The policy still
        decides each request (consent, minors and bases can narrow it further)."""
        row = self._catalog.necessity(case.purpose, case.stage, role)
        glass = self._catalog.purposes.get(case.purpose, {}).get("break_glass", {})
        out: dict[str, list[dict[str, object]]] = {}
        for source, fields in sorted(row.items()):
            extra = glass.get(source, {})
            out[source] = [
                {"field": f, "transform": t, "break_glass": f in extra}
                for f, t in sorted({**extra, **fields}.items())
            ]
        return out
