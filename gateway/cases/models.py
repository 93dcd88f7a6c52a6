"""Case tables. A subject is stored only as a keyed pseudonym plus a copy of the BSN sealed for
the auditor; the gateway itself cannot read a BSN back from its own database."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class CaseRow(SQLModel, table=True):
    __tablename__ = "case"

    id: str = Field(primary_key=True)
    purpose: str
    stage: str
    status: str = "open"
    regisseur_oin: str = Field(index=True)
    created_at: str
    updated_at: str
    seal: str | None = None
    """Over this row and the case's participants (gateway/rowseals.py)."""


class ParticipantRow(SQLModel, table=True):
    __tablename__ = "case_participant"

    case_id: str = Field(foreign_key="case.id", primary_key=True)
    oin: str = Field(primary_key=True, index=True)


class SubjectRow(SQLModel, table=True):
    __tablename__ = "case_subject"

    case_id: str = Field(foreign_key="case.id", primary_key=True)
    subject: str = Field(primary_key=True, index=True)
    """Keyed pseudonym of the BSN (see gateway.bsn.Pseudonymiser)."""
    subject_ref: str = Field(unique=True)
    """Random per-link reference shown to participants instead of any identifier."""
    bsn_sealed: str
    """The BSN sealed for the auditor (gateway.ledger.sealing), JSON."""
    relation: str
    minor: bool
    seal: str | None = None
    """Over this row and the person's consents for this case (gateway/rowseals.py)."""


class ConsentRow(SQLModel, table=True):
    __tablename__ = "case_consent"

    case_id: str = Field(foreign_key="case.id", primary_key=True)
    subject: str = Field(primary_key=True)
    source: str = Field(primary_key=True)
    recorded_at: str
    recorded_by: str
