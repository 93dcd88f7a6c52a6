"""Field transforms: how an allowed value is released (DOMAIN.md, "Transforms").

Each transform is a pure function of the source value and the field's catalogue spec. A value
that does not fit its transform raises :class:`TransformError`, and the field is withheld
rather than released in a form the policy did not choose.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from gateway.catalog import FieldSpec
from gateway.errors import TransformError
from gateway.typing import TRANSFORM_NAMES, Transform


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError as exc:
            raise TransformError("not a date") from exc
    raise TransformError("not a date")


def plain(value: Any, spec: FieldSpec, today: date) -> Any:
    return value


def exists(value: Any, spec: FieldSpec, today: date) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value > 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return value is not None


def count(value: Any, spec: FieldSpec, today: date) -> int:
    if isinstance(value, bool):
        raise TransformError("a boolean has no count")
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple):
        return len(value)
    if value is None:
        return 0
    raise TransformError("nothing to count")


def band(value: Any, spec: FieldSpec, today: date) -> str:
    if not spec.bands:
        raise TransformError("the field has no bands")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TransformError("only numbers are banded")
    for b in spec.bands:
        below = b.get("below")
        if below is None or value < below:
            return str(b["label"])
    raise TransformError("no band covers the value")


def year(value: Any, spec: FieldSpec, today: date) -> int:
    return _date(value).year


def age(value: Any, spec: FieldSpec, today: date) -> int:
    born = _date(value)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def contact(value: Any, spec: FieldSpec, today: date) -> Any:
    # NOTE: only contact-typed fields hold "who to call"; anything else would leak content.
    if spec.type != "contact":
        raise TransformError("contact applies only to contact fields")
    return value


TRANSFORMS: dict[Transform, Callable[[Any, FieldSpec, date], Any]] = {
    "plain": plain,
    "exists": exists,
    "count": count,
    "band": band,
    "year": year,
    "age": age,
    "contact": contact,
}

assert tuple(TRANSFORMS) == TRANSFORM_NAMES  # one function per name in gateway.typing

# Which transforms make sense for which catalogue type (pinned by tests/test_catalog.py).
COMPATIBLE: dict[str, frozenset[Transform]] = {
    "string": frozenset({"plain", "exists"}),
    "date": frozenset({"plain", "exists", "year", "age"}),
    "bool": frozenset({"plain", "exists"}),
    "int": frozenset({"plain", "exists", "count", "band"}),
    "money": frozenset({"plain", "exists", "band"}),
    "list": frozenset({"plain", "exists", "count"}),
    "contact": frozenset({"plain", "exists", "contact"}),
}


def apply(transform: str, value: Any, spec: FieldSpec, today: date) -> Any:
    if value is None:
        # Absent at the source: `exists` and `count` can still answer; others release null.
        return False if transform == "exists" else (0 if transform == "count" else None)
    fn = TRANSFORMS.get(transform)  # type: ignore[call-overload]  # any str may come in
    if fn is None:
        raise TransformError("unknown transform")
    return fn(value, spec, today)
