"""Documented aliases for the identifiers that flow through the gateway.

``NewType`` keeps an organisation id from being passed where a case id is expected; none of these
is ever a BSN or a name (a BSN exists only as :class:`gateway.bsn.Bsn` on the request path and as a
:data:`SubjectPseudonym` everywhere else).
"""

from typing import Literal, NewType

Oin = NewType("Oin", str)
"""An organisation identification number: 20 digits (test OINs start with ``00000099``)."""

CaseId = NewType("CaseId", str)
SourceId = NewType("SourceId", str)
"""A source in the catalogue, e.g. ``politie.incidenten``."""

FieldName = NewType("FieldName", str)
ClientId = NewType("ClientId", str)

SubjectPseudonym = NewType("SubjectPseudonym", str)
"""Keyed HMAC-SHA256 of a BSN, hex: links records about one person without revealing who."""

Transform = Literal["plain", "exists", "count", "band", "year", "age", "contact"]
Urgency = Literal["regulier", "spoed"]
Stage = Literal["aanmelding", "screening", "casusoverleg", "plan", "monitoring", "afgesloten"]
STAGES: tuple[Stage, ...] = (
    "aanmelding",
    "screening",
    "casusoverleg",
    "plan",
    "monitoring",
    "afgesloten",
)
