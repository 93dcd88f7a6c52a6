from __future__ import annotations

from datetime import date

import pytest

from gateway.catalog import FieldSpec
from gateway.transforms import TransformError, apply
from gateway.typing import FieldName

TODAY = date(2026, 11, 22)
MONEY = FieldSpec(
    FieldName("huurachterstand"),
    "gewoon",
    "money",
    ({"below": 1, "label": "0"}, {"below": 1000, "label": "<1000"}, {"label": ">=1000"}),
)
DATE = FieldSpec(FieldName("geboortedatum"), "gewoon", "date")
LIST = FieldSpec(FieldName("domeinen"), "gewoon", "list")
CONTACT = FieldSpec(FieldName("contactpersoon"), "gewoon", "contact")
TEXT = FieldSpec(FieldName("status"), "gewoon", "string")


@pytest.mark.parametrize(
    ("value", "label"), [(0, "0"), (999, "<1000"), (1000, ">=1000"), (25_000, ">=1000")]
)
def test_band(value: int, label: str) -> None:
    assert apply("band", value, MONEY, TODAY) == label


@pytest.mark.parametrize(
    ("born", "age"), [("2008-11-22", 18), ("2008-11-23", 17), ("1988-04-12", 38)]
)
def test_age_counts_birthdays(born: str, age: int) -> None:
    assert apply("age", born, DATE, TODAY) == age


def test_year_exists_count_plain() -> None:
    assert apply("year", "2026-10-03", DATE, TODAY) == 2026
    assert apply("exists", [], LIST, TODAY) is False
    assert apply("exists", ["jeugd"], LIST, TODAY) is True
    assert apply("exists", None, LIST, TODAY) is False
    assert apply("count", ["a", "b"], LIST, TODAY) == 2
    assert apply("count", None, LIST, TODAY) == 0
    assert apply("plain", "x", TEXT, TODAY) == "x"


@pytest.mark.parametrize(
    ("transform", "value", "spec"),
    [
        ("contact", "content", TEXT),
        ("band", "many", MONEY),
        ("year", "gisteren", DATE),
        ("count", True, LIST),
        ("unknown", 1, TEXT),
    ],
)
def test_misfits_raise(transform: str, value: object, spec: FieldSpec) -> None:
    with pytest.raises(TransformError):
        apply(transform, value, spec, TODAY)
