from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bsn import Bsn, Pseudonymiser, elfproef


@pytest.mark.parametrize("digits", ["999993847", "123456782", "999990019"])
def test_known_test_numbers_pass(digits: str) -> None:
    assert elfproef(digits)


@pytest.mark.parametrize(
    "digits",
    ["999993848", "12345678", "1234567820", "abcdefghi", "000000000", "１２３４５６７８２"],
)
def test_invalid_numbers_fail(digits: str) -> None:
    assert not elfproef(digits)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_elfproef_matches_the_formula(digits: str) -> None:
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    expected = sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11 == 0
    assert elfproef(digits) == (expected and digits != "000000000")


def test_bsn_never_renders_its_digits() -> None:
    b = Bsn("999993847")
    assert "999993847" not in repr(b)
    assert "999993847" not in str(b)
    assert "999993847" not in f"{b} {[b]}"
    assert b.digits == "999993847"


def test_invalid_bsn_message_does_not_echo_input() -> None:
    with pytest.raises(ValueError) as info:
        Bsn("999993848")
    assert "999993848" not in str(info.value)


def test_pseudonyms_are_stable_per_key_and_differ_across_keys() -> None:
    a, b = Pseudonymiser(b"a" * 32), Pseudonymiser(b"b" * 32)
    bsn = Bsn("123456782")
    assert a.pseudonym(bsn) == a.pseudonym(Bsn("123456782"))
    assert a.pseudonym(bsn) != b.pseudonym(bsn)
    assert a.pseudonym(bsn) != a.pseudonym(Bsn("999993847"))
    assert "123456782" not in a.pseudonym(bsn)


def test_short_pseudonymisation_key_refused() -> None:
    with pytest.raises(ValueError):
        Pseudonymiser(b"short")
