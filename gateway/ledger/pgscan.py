"""The verifier's fast path on PostgreSQL: the scan of ``_spanscan.c``, done by the server.

PostgreSQL has SHA-256 built in, so one statement can check a span where the rows are: each
row's values in their plainest form (printable ASCII with nothing JSON escapes — so the leaf
is their plain concatenation, the same bytes RFC 8785 gives), the body's canonical shape, the
leaf's hash, the subject commitment, the salt's one stored form, the sequence and the links
inside the span. Only the span's ends, its sealed entries and one verdict come back; the seals'
Ed25519 checks are made by the caller, in Python.

As the compiled scan, it only ever says "sound" or "not sure" (None): anything else — a value
outside the plain form, a removed subject index, any failure — sends the span the long way,
which names the failure. A test holds the two to the same verdicts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from gateway.ledger.entry import ACTIONS, FORMAT_VERSION, OUTCOMES
from gateway.ledger.sealing import BODY_KEYS
from gateway.ledger.spanscan import ScannedSpan

_PLAIN = "'^[ !#-\\[\\]-~]*$'"
"""Printable ASCII but for the quote and the backslash (a PostgreSQL regular expression)."""
_NOT_PLAIN = "'[^ !#-\\[\\]-~]'"
"""One character that is not (searched for: faster than matching the whole value)."""

_TEXT = (
    "prev_hash",
    "time",
    "action",
    "policy_version",
    "requester_oin",
    "purpose",
    "case_id",
    "outcome",
    "subject_commit",
    "entry_hash",
    "subject",
    "subject_salt",
)


def _body_checks() -> list[str]:
    """The body in canonical shape, without a regular expression over it (PostgreSQL's took
    16-18 µs a row, five times all the rest): the keys in sorted order around five values
    (LIKE, its underscores escaped), exactly the pattern's 20 quotes (so no value holds one),
    printable ASCII only and no backslash — together, what verify._CANONICAL_BODY matches."""
    keys = BODY_KEYS
    like = "{" + ",".join(f'"{k}":"%"' for k in keys).replace("_", "\\_") + "}"
    return [
        f"body LIKE '{like}'",
        "array_length(string_to_array(body, '\"'), 1) = " + str(4 * len(keys) + 1),
        "body !~ '[^ -~]'",
        "strpos(body, '\\') = 0",
    ]


def _leaf() -> str:
    def s(column: str) -> str:
        return f"""'"' || {column} || '"'"""

    parts = [
        "'{\"action\":'",
        s("action"),
        "',\"body\":'",
        "body",
        "',\"case_id\":'",
        s("case_id"),
        "',\"outcome\":'",
        s("outcome"),
        "',\"policy_version\":'",
        s("policy_version"),
        "',\"prev_hash\":'",
        s("prev_hash"),
        "',\"purpose\":'",
        s("purpose"),
        "',\"requester_oin\":'",
        s("requester_oin"),
        "',\"review\":' || CASE WHEN review THEN 'true' ELSE 'false' END",
        "',\"seq\":' || seq::text",
        "',\"subject_commit\":'",
        s("subject_commit"),
        "',\"time\":'",
        s("time"),
        # NOTE: the number apart: text() would take ":3" for a bind parameter.
        "',\"v\":'",
        f"'{FORMAT_VERSION}}}'",
    ]
    return " || ".join(parts)


_SOUND = " AND ".join(
    [
        # Every text value plain, in one pass (a separator that is itself plain).
        f"concat_ws(' ', {', '.join(_TEXT)}) !~ {_NOT_PLAIN}",
        *_body_checks(),
        "action = ANY(:actions)",
        "outcome = ANY(:outcomes)",
        "seq > -9007199254740992 AND seq < 9007199254740992",
        "length(prev_hash) = 64",
        "subject_salt ~ '^([0-9a-f]{2})*$'",
        "(seal IS NULL OR seal ~ " + _PLAIN + ")",
        # The leaf's hash (RFC 6962: a zero byte first) and the subject commitment.
        "entry_hash = encode(sha256('\\x00'::bytea || convert_to(" + _leaf() + ", 'UTF8')), 'hex')",
        "subject_commit = encode(sha256(decode(subject_salt, 'hex') || "
        "convert_to(subject, 'UTF8')), 'hex')",
        # Inside the span: consecutive numbers, each linked to the one before.
        "(before_seq IS NULL OR (seq = before_seq + 1 AND prev_hash = before_hash))",
    ]
)

_SPAN = text(
    f"""
    WITH span AS (
        SELECT *,
            lag(seq) OVER (ORDER BY seq) AS before_seq,
            lag(entry_hash) OVER (ORDER BY seq) AS before_hash
        FROM ledger_entry WHERE seq >= :first AND seq <= :last
    ), checked AS (
        SELECT seq, prev_hash, entry_hash, seal, COALESCE({_SOUND}, false) AS sound FROM span
    )
    SELECT
        count(*),
        bool_and(sound),
        (SELECT seq FROM checked ORDER BY seq LIMIT 1),
        (SELECT prev_hash FROM checked ORDER BY seq LIMIT 1),
        (SELECT seq FROM checked ORDER BY seq DESC LIMIT 1),
        (SELECT entry_hash FROM checked ORDER BY seq DESC LIMIT 1),
        array_agg(seq ORDER BY seq) FILTER (WHERE seal IS NOT NULL),
        array_agg(entry_hash ORDER BY seq) FILTER (WHERE seal IS NOT NULL),
        array_agg(seal ORDER BY seq) FILTER (WHERE seal IS NOT NULL)
    FROM checked
    """  # noqa: S608 - fixed text: column names and patterns from this module
)

_NAMES = {"actions": sorted(ACTIONS), "outcomes": sorted(OUTCOMES)}


def span(conn: Connection, first: int, last: int) -> ScannedSpan | None:
    """Entries ``first``..``last`` checked by the server; None where a row needs the long way."""
    row: Any = conn.execute(_SPAN, {"first": first, "last": last, **_NAMES}).one()
    count, sound, first_seq, first_prev, last_seq, last_hash, seqs, hashes, seals = row
    if count == 0:
        return ScannedSpan(0, None, "", 0, "", [])
    if not sound:
        return None
    sealed = list(zip(seqs or [], hashes or [], seals or [], strict=True))
    return ScannedSpan(count, first_seq, first_prev, last_seq, last_hash, sealed)
