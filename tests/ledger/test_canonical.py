"""The ledger's canonical form is RFC 8785, byte for byte, whichever encoder writes it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.errors import LedgerUnavailable
from gateway.ledger.entry import FACT_NAMES, Facts, Header, canonical
from gateway.ledger.sealing import seal
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
