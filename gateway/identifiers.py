"""The rules for the two public identifiers, in one place: the BSN and the OIN.

The regular expressions are also published in the OpenAPI document, so a generated client
checks the same shape before it sends anything. Both are ASCII-only on purpose: ``\\d`` and
``str.isdigit`` accept Arabic-Indic or full-width digits, which no register issues.
"""

from __future__ import annotations

import re
from typing import Final

BSN_REGEX: Final = "^[0-9]{9}$"
"""Nine ASCII digits; the elfproef is checked on top (it cannot be a regular expression)."""
BSN_RULE: Final = "nine ASCII digits passing the elfproef"

OIN_REGEX: Final = "^[0-9]{20}$"
OIN_RULE: Final = "twenty ASCII digits"

_BSN = re.compile(BSN_REGEX.replace("$", r"\Z"))
_OIN = re.compile(OIN_REGEX.replace("$", r"\Z"))  # `$` would also match before a final newline
_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def elfproef(digits: str) -> bool:
    """True if ``digits`` is nine ASCII digits with 9A+8B+7C+6D+5E+4F+3G+2H-1I ≡ 0 (mod 11)."""
    if not _BSN.match(digits):
        return False
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, digits, strict=True))
    # NOTE: 000000000 passes the arithmetic but is not an issued number.
    return total % 11 == 0 and digits != "000000000"


def is_oin(value: str) -> bool:
    return bool(_OIN.match(value))
