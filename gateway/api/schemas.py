"""Request and response bodies, as they appear in the OpenAPI document.

Unknown members are refused (``extra="forbid"``): a body can never carry an organisation, role or
user — those come only from the verified token. Strings are taken exactly as sent: no stripping,
so ``" 999990019 "`` is not a BSN. Every list and map has an upper bound.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gateway.identifiers import BSN_REGEX, BSN_RULE, OIN_REGEX, elfproef
from gateway.typing import Relation, Stage, Transform, Urgency

MAX_SOURCES = 32
MAX_FIELDS = 64
MAX_PARTICIPANTS = 32


def _elfproef(value: str) -> str:
    if not elfproef(value):
        raise ValueError(f"not a valid BSN ({BSN_RULE})")
    return value


Bsn = Annotated[
    str,
    Field(
        pattern=BSN_REGEX,
        min_length=9,
        max_length=9,
        description=f"A BSN: {BSN_RULE}. Only ever in a body, never in a URL.",
        examples=["999990019"],
    ),
    AfterValidator(_elfproef),
]
Oin = Annotated[
    str,
    Field(
        pattern=OIN_REGEX,
        description="An OIN: twenty ASCII digits.",
        examples=["00000099000000000002"],
    ),
]
CaseId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A case id, e.g. case-1a2b3c4d5e6f.")
]
SourceId = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z_]{0,31}\.[a-z][a-z_]{0,31}$",
        description="A catalogue source, 'organisation.register', e.g. politie.incidenten.",
    ),
]
FieldName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("names the same value more than once")
    return values


UniqueFields = Annotated[
    list[FieldName],
    Field(max_length=MAX_FIELDS, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_unique),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests -------------------------------------------------------------------------------------


class DisclosureBody(Strict):
    case_id: CaseId
    bsn: Bsn
    sources: Annotated[list[SourceId], AfterValidator(_unique)] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCES,
        json_schema_extra={"uniqueItems": True},
        description="Sources to ask, each once; default: every source of the case's purpose.",
    )
    fields: dict[SourceId, UniqueFields] | None = Field(
        default=None,
        max_length=MAX_SOURCES,
        description=(
            "Fields wanted per source, each once and no more than the source offers; a source "
            "named here must be in `sources` when that is given. Default: all the policy allows."
        ),
    )
    urgency: Urgency = "regulier"
    justification: str | None = Field(
        default=None,
        max_length=2000,
        description="Written justification; required for an urgent (spoed) break-glass request.",
    )


class CaseCreate(Strict):
    purpose: str = Field(
        pattern=r"^[a-z][a-z_]{0,63}$",
        description="A purpose id from the catalogue, e.g. mda_plus_plus.",
    )
    participants: Annotated[list[Oin], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=MAX_PARTICIPANTS,
        json_schema_extra={"uniqueItems": True},
        description="OINs of participating organisations; the regisseur is always one.",
    )


class CasePatch(Strict):
    stage: Stage


class SubjectLink(Strict):
    bsn: Bsn
    relation: Relation
    minor: bool
    consents: Annotated[list[SourceId], AfterValidator(_unique)] = Field(
        default_factory=list,
        max_length=MAX_SOURCES,
        json_schema_extra={"uniqueItems": True},
        description="Sources the subject has consented to share from.",
    )


class TokenForm(Strict):
    """RFC 6749 §4.4.2, form-encoded. The client authenticates with HTTP Basic (preferred) or
    with ``client_id`` and ``client_secret`` in this form."""

    grant_type: Literal["client_credentials"]
    client_id: str | None = Field(default=None, max_length=128)
    client_secret: str | None = Field(default=None, max_length=256)
    scope: str | None = Field(
        default=None, max_length=256, description="Ignored: the role decides."
    )


# -- responses ------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str = Field(description="An RFC 9068 JWT (ES256), valid for expires_in seconds.")
    token_type: Literal["Bearer"]
    expires_in: int


class Health(BaseModel):
    status: Literal["ok"]
    policy_version: str


class CaseCreated(BaseModel):
    case_id: str
    purpose: str
    stage: Stage


class CaseStage(BaseModel):
    case_id: str
    stage: Stage
    status: Literal["open", "closed"]


class SubjectLinked(BaseModel):
    subject_ref: str = Field(description="A random reference for this link; never a BSN.")
    relation: Relation
    minor: bool


class SubjectSummary(SubjectLinked):
    pass


class Askable(BaseModel):
    field: str
    transform: Transform
    break_glass: bool = Field(
        description="Released only in an urgent (spoed) request with a written justification; "
        "flagged for review by a privacy officer."
    )


class CaseSummary(BaseModel):
    case_id: str
    purpose: str
    purpose_title: str
    stage: Stage
    status: Literal["open", "closed"]
    regisseur: bool = Field(description="True if the requester's organisation directs the case.")
    subjects: list[SubjectSummary]
    askable: dict[str, list[Askable]] = Field(
        description="What this requester may ask per source at this stage, per the necessity "
        "matrix; the policy still decides each request (consent, minors and bases narrow it)."
    )


class CaseList(BaseModel):
    cases: list[CaseSummary]


class Receipt(BaseModel):
    entry_hash: str = Field(description="The ledger entry's hash: how an auditor finds it.")
    recorded_at: str


class FieldRelease(BaseModel):
    value: Any
    transform: Transform
    legal_basis: str
    break_glass: bool = False


class SourceOut(BaseModel):
    source: str
    status: Literal["released", "denied", "no_record", "error"]
    fields: dict[str, FieldRelease] = Field(default_factory=dict)
    withheld: dict[str, str] = Field(
        default_factory=dict, description="Field -> reason code (docs/decision.md)."
    )
    reasons: list[str] = Field(default_factory=list)
    obligations: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None


class DisclosureOut(BaseModel):
    case_id: str
    purpose: str
    stage: Stage
    policy_version: str
    review_required: bool
    receipt: Receipt
    sources: list[SourceOut]


# -- the policy dry run ------------------------------------------------------------------------

PolicyName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]{0,63}$")]


class DryRunRequester(Strict):
    verified: bool = True
    oin: Oin
    org_type: PolicyName
    role: PolicyName
    user: str = Field(default="dry-run", max_length=64)


class DryRunCase(Strict):
    found: bool = True
    id: str = Field(default="dry-run", max_length=64)
    status: Literal["open", "closed"] = "open"
    stage: Stage
    purpose: PolicyName
    participants: list[Oin] = Field(max_length=MAX_PARTICIPANTS)


class DryRunSubject(Strict):
    linked: bool = True
    relation: Relation = "hoofdpersoon"
    minor: bool = False
    consents: list[SourceId] = Field(default_factory=list, max_length=MAX_SOURCES)


class DryRunAsk(Strict):
    source: SourceId
    fields: list[FieldName] = Field(default_factory=list, max_length=MAX_FIELDS)
    urgency: Urgency = "regulier"
    justified: bool = False


class DryRunInput(Strict):
    """A complete policy input (docs/policy-input.md): hypothetical, so no BSN and no case
    from the registry — every attribute the policy decides on is given."""

    requester: DryRunRequester
    case: DryRunCase
    subject: DryRunSubject
    request: DryRunAsk


class DryRunBody(Strict):
    input: DryRunInput


DRY_RUN_MODELS = (DryRunBody, DryRunInput, DryRunRequester, DryRunCase, DryRunSubject, DryRunAsk)


class DryRunOut(BaseModel):
    policy_version: str
    decision: dict[str, Any] = Field(description="The decision document (docs/decision.md).")
    explanation: dict[str, Any] | None = Field(
        description="The rule path: each request-level check with its result, and per field "
        "each step of the field rule in order (the first that does not pass decides)."
    )


class ProblemError(BaseModel):
    location: str = Field(description="Where, as a JSON pointer into the body ('?' = the query).")
    message: str


class ProblemOut(BaseModel):
    """RFC 9457 problem details. Never echoes a submitted value."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemError] | None = Field(
        default=None, description="400 and 413: every problem found."
    )


class DeniedOut(ProblemOut):
    receipt: Receipt
    reasons: list[str] = Field(
        description="`no_field_released`, or `no_access_to_case` when the requester's "
        "organisation does not take part in the case (or there is no such case)."
    )
    sources: list[SourceOut] = Field(description="Per source: the reasons each field was withheld.")


# -- signals --------------------------------------------------------------------------------------

Area = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z_]{0,63}$",
        description="An area of concern from the catalogue (signal_areas), e.g. schulden.",
        examples=["schulden"],
    ),
]
SignalId = Annotated[str, Field(pattern=r"^sig-[0-9a-f]{20}$", description="A signal id.")]
MatchId = Annotated[str, Field(pattern=r"^match-[0-9a-f]{20}$", description="A match id.")]


_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f\uFEFF]"
EMAIL_REGEX = rf"^{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}{{1,189}}$"


class SignalContact(Strict):
    """Whom another partner should call: a professional or a team, never the person."""

    name: str = Field(min_length=1, max_length=120, description="A name or a team.")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ()-]{6,24}$")
    # NOTE: no `\s` alone: the published pattern is read as ECMAScript (U+FEFF is a space, U+0085
    # is not) and checked here by Rust's regex (the other way round); spelled out, both refuse
    # spaces, control characters (C0, DEL, C1) and U+FEFF alike.
    email: str | None = Field(default=None, max_length=254, pattern=EMAIL_REGEX)


class SignalCreate(Strict):
    bsn: Bsn
    area: Area
    contact: SignalContact
    consent: bool = Field(
        default=False,
        description="The person consented to this signal (required where the policy says so, "
        "e.g. for GGZ). The requester records this; it is ledgered.",
    )


class SignalView(BaseModel):
    signal_id: str
    area: str
    contact: dict[str, str]
    registered_at: str
    active_until: str = Field(description="Matches until then.")
    kept_until: str = Field(description="Kept (inactive) until then, then destroyed.")
    status: Literal["active", "withdrawn", "expired"]


class MatchOther(BaseModel):
    oin: str
    organisation: str
    contact: dict[str, str]
    registered_on: str = Field(description="The date of the other organisation's signal.")
    area: str | None = Field(
        default=None,
        description="The other signal's area — only where the policy reveals it (a sensitive "
        "area is shown only to the organisation types that act on it).",
    )


class MatchNotice(BaseModel):
    match_id: str
    signal_id: str = Field(description="The requester's own signal that matched.")
    matched_at: str
    status: Literal["active", "inactive"]
    other: MatchOther


class SignalRegistered(BaseModel):
    signal: SignalView
    created: bool = Field(description="False when the same signal was already active.")
    matches: list[MatchNotice]


class Link(BaseModel):
    href: str


class PageLinks(BaseModel):
    next: Link | None = None


class SignalList(BaseModel):
    signals: list[SignalView]
    links: PageLinks = Field(alias="_links", serialization_alias="_links")


class MatchList(BaseModel):
    matches: list[MatchNotice]
    links: PageLinks = Field(alias="_links", serialization_alias="_links")


class CaseFromMatch(Strict):
    bsn: Bsn
    purpose: str = Field(pattern=r"^[a-z][a-z_]{0,63}$")
    relation: Relation = "hoofdpersoon"
    minor: bool = False


class WebhookKey(BaseModel):
    key: str = Field(description="Standard Webhooks public key (whpk_ + base64 Ed25519).")
    algorithm: Literal["Ed25519"]
    signature_header: Literal["webhook-signature"]
