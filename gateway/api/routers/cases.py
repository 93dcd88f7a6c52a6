"""Cases: what a participant sees, and what the regisseur changes."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from gateway.api.deps import GatewayDep, Requester
from gateway.api.docs import AUTHENTICATED, problems
from gateway.api.schemas import (
    CaseCreate,
    CaseCreated,
    CaseId,
    CaseList,
    CasePatch,
    CaseStage,
    SubjectLink,
    SubjectLinked,
)
from gateway.bsn import Bsn
from gateway.typing import STAGES, Stage

router = APIRouter(prefix="/cases", tags=["cases"])
# NOTE: plain functions, so FastAPI runs them on its thread pool: each reads the registry and
# most wait for a ledger entry to be durable (an fsync). On the event loop, that wait stalled
# every other request of the process (the disclosures among them) until it was done.


def body_stage(value: str) -> Stage:
    for stage in STAGES:
        if stage == value:
            return stage
    raise ValueError("a stored case has an unknown stage")


def body_status(value: str) -> Literal["open", "closed"]:
    return "closed" if value == "closed" else "open"


_REGISTRY = (
    "The case registry failed its integrity check (ADR 0017) or the ledger is unavailable; "
    "nothing was changed or shown"
)


@router.get(
    "",
    summary="Cases the requester's organisation takes part in",
    operation_id="listCases",
    responses=problems(
        *AUTHENTICATED,
        503,
        s503="The case registry failed its integrity check (ADR 0017); nothing is shown",
    ),
)
def list_cases(gw: GatewayDep, who: Requester) -> CaseList:
    return CaseList.model_validate({"cases": gw.cases.cases_for(who)})


@router.post(
    "",
    status_code=201,
    summary="Create a case (regisseur)",
    operation_id="createCase",
    responses=problems(
        *AUTHENTICATED, 403, s403="This organisation type cannot direct a case for this purpose"
    ),
)
def create_case(body: CaseCreate, gw: GatewayDep, who: Requester) -> CaseCreated:
    case = gw.cases.create(who, body.purpose, body.participants)
    return CaseCreated(case_id=case.id, purpose=case.purpose, stage=body_stage(case.stage))


@router.patch(
    "/{case_id}",
    summary="Move the case to a later stage (regisseur)",
    operation_id="setCaseStage",
    responses=problems(*AUTHENTICATED, 403, 404, 409, 503, s503=_REGISTRY),
)
def patch_case(case_id: CaseId, body: CasePatch, gw: GatewayDep, who: Requester) -> CaseStage:
    case = gw.cases.set_stage(who, case_id, body.stage)
    return CaseStage(case_id=case.id, stage=body.stage, status=body_status(case.status))


@router.post(
    "/{case_id}/subjects",
    status_code=201,
    summary="Link a person to the case (regisseur)",
    operation_id="linkSubject",
    responses=problems(*AUTHENTICATED, 403, 404, 409, 503, s503=_REGISTRY),
)
def link_subject(
    case_id: CaseId, body: SubjectLink, gw: GatewayDep, who: Requester
) -> SubjectLinked:
    row = gw.cases.link_subject(
        who, case_id, Bsn(body.bsn), body.relation, body.minor, body.consents
    )
    return SubjectLinked(subject_ref=row.subject_ref, relation=body.relation, minor=row.minor)
