"""Documented aliases for the identifiers and vocabularies that flow through the gateway.

``NewType`` keeps an organisation id from being passed where a source id is expected; none of
these is ever a BSN or a name (a BSN exists only as :class:`gateway.bsn.Bsn` on the request path
and as a :data:`SubjectPseudonym` everywhere else). Each closed vocabulary is a ``Literal`` with
its values derived from it, so there is exactly one list of stages, relations, urgencies and
transforms.
"""

from typing import Final, Literal, NewType, get_args

Oin = NewType("Oin", str)
"""An organisation identification number: 20 digits (test OINs start with ``00000099``)."""

SourceId = NewType("SourceId", str)
"""A source in the catalogue, e.g. ``politie.incidenten``."""

FieldName = NewType("FieldName", str)
ClientId = NewType("ClientId", str)

SubjectPseudonym = NewType("SubjectPseudonym", str)
"""Keyed HMAC-SHA256 of a BSN, hex: links records about one person without revealing who."""

Transform = Literal["plain", "exists", "count", "band", "year", "age", "contact"]
TRANSFORM_NAMES: Final[tuple[Transform, ...]] = get_args(Transform)

Urgency = Literal["regulier", "spoed"]

Stage = Literal["aanmelding", "screening", "casusoverleg", "plan", "monitoring", "afgesloten"]
STAGES: Final[tuple[Stage, ...]] = get_args(Stage)
"""In life-cycle order: a case only moves forward through these."""

Relation = Literal["hoofdpersoon", "partner", "ex_partner", "kind", "ouder", "huisgenoot", "overig"]
RELATIONS: Final[tuple[Relation, ...]] = get_args(Relation)
