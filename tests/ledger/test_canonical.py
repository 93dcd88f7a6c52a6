"""The ledger's canonical form is RFC 8785, byte for byte, whichever encoder writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import LedgerCorrupted, LedgerUnavailable
from gateway.ledger.entry import FACT_NAMES, Facts, Header, canonical
from gateway.ledger.sealing import SealedBody, seal
from gateway.ledger.verify import parse_body, parse_body_fully
from gateway.ledger.writer import _plaintext

_RECIPIENT = X25519PrivateKey.generate().public_key()

keys = st.text(alphabet=st.characters(max_codepoint=127), max_size=12)
leaves = (
    st.text(max_size=40)  # any code point but lone surrogates: controls, U+2028, emoji, …
    | st.booleans()
    | st.none()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)


@settings(max_examples=600)
@given(doc=st.dictionaries(keys, documents, max_size=8))
def test_the_fast_path_writes_exactly_rfc8785(doc: dict[str, Any]) -> None:
    assert canonical(doc) == rfc8785.dumps(doc)


@pytest.mark.parametrize(
    "doc",
    [
        {"é": 1, "e": 2, "z": 3},  # non-ASCII keys: UTF-16 order
        {"n": 1.5},  # floats: ES6 number form
        {"n": 2**60},  # beyond what JavaScript holds: rfc8785 refuses
        {"s": "\ud800"},  # a lone surrogate: rfc8785 refuses
    ],
)
def test_anything_else_goes_through_rfc8785(doc: dict[str, Any]) -> None:
    try:
        expected = rfc8785.dumps(doc)
    except Exception as exc:  # the library's refusal is the answer
        with pytest.raises(type(exc)):
            canonical(doc)
    else:
        assert canonical(doc) == expected


def test_the_header_holds_every_fact_once() -> None:
    facts = Facts("case.create", "sha256:x", "oin", "p", "c", "permit", review=False)
    content = Header(1, "0" * 64, "t", facts, "s").content()
    assert set(content) == {"v", "time", *FACT_NAMES, "subject_commit"}


@settings(max_examples=50)
@given(plaintext=st.binary(max_size=2000), aad=st.binary(max_size=200))
def test_a_sealed_body_writes_its_own_canonical_json(plaintext: bytes, aad: bytes) -> None:
    # The writer takes the sealed body's canonical JSON from SealedBody.canonical_json (written
    # directly, on every append's path); it must be RFC 8785's bytes, or no entry verifies.
    sealed = seal(plaintext, aad, _RECIPIENT)
    assert sealed.canonical_json().encode() == rfc8785.dumps(sealed.as_dict())


def test_the_sealed_plaintext_is_json_of_the_body() -> None:
    body: dict[Any, Any] = {"z": [1, {"é": "ü"}], "a": None, "m": True, 7: "int key"}
    assert json.loads(_plaintext(body)) == {
        "z": [1, {"é": "ü"}],
        "a": None,
        "m": True,
        "7": "int key",
    }
    with pytest.raises(LedgerUnavailable):
        _plaintext({"x": object()})


def _parsed(text: str) -> dict[str, str] | str:
    try:
        return parse_body(7, text)
    except LedgerCorrupted as exc:
        return str(exc)


def _parsed_fully(text: str) -> dict[str, str] | str:
    try:
        return parse_body_fully(7, text)
    except LedgerCorrupted as exc:
        return str(exc)


@settings(max_examples=400)
@given(
    values=st.lists(st.text(max_size=12), min_size=5, max_size=5),
    junk=st.text(max_size=3),
    where=st.integers(0, 120),
    cut=st.integers(0, 3),
)
def test_the_fast_body_check_agrees_with_the_full_one(
    values: list[str], junk: str, where: int, cut: int
) -> None:
    # Verification reads a stored body with one regular expression where it can; whatever the
    # stored text, the answer (the body, or the failure) must be the full check's.
    doc = dict(zip(sorted(SealedBody.__dataclass_fields__), values, strict=True))
    try:
        text = canonical(doc).decode()
    except (UnicodeEncodeError, ValueError):
        return  # a lone surrogate: no canonical form at all
    for stored in (text, text[:where] + junk + text[where + cut :], text.replace('"', "'", 1)):
        assert _parsed(stored) == _parsed_fully(stored)
