"""Published patterns mean the same to a client as to the server.

The OpenAPI document's patterns are ECMAScript regular expressions (a generated client, the
fuzzer); pydantic checks them with Rust's regex; the two disagree on what `\\s` is (U+0085 and
U+FEFF). A pattern that leans on it refuses a request its own schema allows (schemathesis found
one in the signal contact's e-mail)."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from gateway.api.schemas import EMAIL_REGEX, SignalContact

# Characters some engine calls a space and another does not, and plain spaces and controls.
DISPUTED = ["\u0085", "\ufeff", "\u001c", "\u00a0", "\u2028", "\u3000", "\t", " ", "\u0000"]


@pytest.mark.parametrize("char", DISPUTED)
def test_the_email_pattern_refuses_the_same_characters_everywhere(char: str) -> None:
    email = f"a{char}b@zorg.example"
    assert re.fullmatch(EMAIL_REGEX, email) is None  # as a client reads the published pattern
    with pytest.raises(ValidationError):
        SignalContact(name="team", email=email)  # as the server checks it


def test_an_ordinary_address_passes_both() -> None:
    email = "wijkteam.noord@zaanstad.example"
    assert re.fullmatch(EMAIL_REGEX, email) is not None
    assert SignalContact(name="team", email=email).email == email
