"""Request and response bodies. Unknown members are refused (``extra="forbid"``): a body can
never carry an organisation, role or user — those come only from the verified token."""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.bsn import elfproef
from gateway.cases.registry import RELATIONS
from gateway.typing import Stage

CASE_ID = r"^[A-Za-z0-9_-]{1,64}$"
SOURCE_ID = r"^[a-z_]+\.[a-z_]+$"
OIN = r"^\d{20}$"

Relation = Literal["hoofdpersoon", "partner", "ex_partner", "kind", "ouder", "huisgenoot", "overig"]
assert set(RELATIONS) == set(get_args(Relation))  # keep the two lists in step


def _check_bsn(value: str) -> str:
    if not elfproef(value):
        raise ValueError("not a valid BSN (nine digits passing the elfproef)")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DisclosureBody(Strict):
    case_id: str = Field(pattern=CASE_ID, description="The case the request is made in.")
    bsn: str = Field(description="The subject's BSN. Sent only in the body, never in a URL.")
    sources: list[str] | None = Field(
        default=None,
        max_length=32,
        description="Sources to ask; default: every source of the case's purpose.",
    )
    fields: dict[str, list[str]] | None = Field(
        default=None, description="Fields wanted per source; default: all the policy allows."
    )
    urgency: Literal["regulier", "spoed"] = "regulier"
    justification: str | None = Field(
        default=None,
        max_length=2000,
        description="Written justification; required for an urgent (spoed) break-glass request.",
    )

    _bsn = field_validator("bsn")(_check_bsn)

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: list[str] | None) -> list[str] | None:
        import re

        if value is not None and any(not re.match(SOURCE_ID, s) for s in value):
            raise ValueError("source ids look like 'organisation.register'")
        return value


class CaseCreate(Strict):
    purpose: str = Field(description="A purpose id from the catalogue, e.g. mda_plus_plus.")
    participants: list[str] = Field(
        default_factory=list,
        description="OINs of participating organisations; the regisseur is always one.",
    )

    @field_validator("participants")
    @classmethod
    def _oins(cls, value: list[str]) -> list[str]:
        import re

        if any(not re.match(OIN, v) for v in value):
            raise ValueError("an OIN is 20 digits")
        return value


class CasePatch(Strict):
    stage: Stage


class SubjectLink(Strict):
    bsn: str
    relation: Relation
    minor: bool
    consents: list[str] = Field(
        default_factory=list, description="Sources the subject has consented to share from."
    )

    _bsn = field_validator("bsn")(_check_bsn)


class Receipt(BaseModel):
    sequence: int
    entry_hash: str
    recorded_at: str


class FieldRelease(BaseModel):
    value: Any
    transform: str
    legal_basis: str
    break_glass: bool = False


class SourceOut(BaseModel):
    source: str
    status: Literal["released", "denied", "no_record", "error"]
    fields: dict[str, FieldRelease] = Field(default_factory=dict)
    withheld: dict[str, str] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)
    obligations: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class DisclosureOut(BaseModel):
    case_id: str
    purpose: str
    stage: str
    policy_version: str
    review_required: bool
    receipt: Receipt
    sources: list[SourceOut]
