from __future__ import annotations

import io
import json
import logging

import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.logging import REFUSED, configure_logging, refuse_personal_data
from gateway.testing import TestGateway, demo_bsn


def test_processor_refuses_bsns_and_personal_keys() -> None:
    event = refuse_personal_data(
        None,
        "info",
        {
            "event": "x",
            "note": "subject 999993847 asked",
            "bsn": "anything",
            "naam": "Demo",
            "count": 999993847,
            "nested": {"list": ["123456782"]},
            "fine": "123456789",
            "n": 7,
        },
    )
    assert event["note"] == REFUSED and event["bsn"] == REFUSED and event["naam"] == REFUSED
    assert event["count"] == REFUSED
    assert event["nested"] == {"list": [REFUSED]}
    assert event["fine"] == "123456789"  # fails the elfproef: not a BSN
    assert event["n"] == 7
    assert event["pii_refused"] == ["bsn", "count", "naam", "nested", "note"]


def test_no_bsn_or_name_reaches_the_log_during_a_disclosure(shared_gw: TestGateway) -> None:
    buffer = io.StringIO()
    configure_logging()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(buffer))
    try:
        shared_gw.client.post(
            "/v1/disclosures",
            headers=shared_gw.auth("zaanstad-regie"),
            json={"case_id": shared_gw.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
        )
        shared_gw.client.post(
            "/v1/disclosures",
            headers=shared_gw.auth("zaanstad-regie"),
            json={"case_id": "nope", "bsn": "999993848"},
        )
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()
    text = buffer.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line["event"] == "disclosure.decided" for line in lines)
    assert demo_bsn("mda.ex_partner") not in text and "999993848" not in text
    assert "Bakker" not in text and "pii_refused" not in text


def test_validation_errors_do_not_echo_the_input(shared_gw: TestGateway) -> None:
    r = shared_gw.client.post(
        "/v1/disclosures",
        headers=shared_gw.auth("zaanstad-regie"),
        json={"case_id": "../../etc", "bsn": "999993848", "urgency": "nu", "x": 1},
    )
    assert r.status_code == 400
    assert "999993848" not in r.text
    # A member the API does not define is located as "*": its name is the client's choice.
    assert {e["location"] for e in r.json()["errors"]} == {"/case_id", "/bsn", "/urgency", "/*"}


def _refused_plainly(value: object) -> bool:
    """The rule in its plainest words: a nine-digit run (or a number of nine digits) that
    passes the elfproef."""
    import re

    from gateway.identifiers import elfproef

    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return value >= 10**8 and elfproef(f"{value:09d}")
    assert isinstance(value, str)
    return any(elfproef(m) for m in re.findall(r"(?=(?<!\d)(\d{9})(?!\d))", value))


@settings(max_examples=500)
@given(
    value=st.integers(-(10**10), 10**10)
    | st.text(alphabet="0123456789 x-٣", max_size=30)
    | st.sampled_from(["999993847", "a999993847b", "1999993847", "x 123456782 y", None, True])
)
def test_the_net_refuses_exactly_what_the_rule_says(value: object) -> None:
    event = refuse_personal_data(None, "info", {"v": value})
    assert (event["v"] == REFUSED) == _refused_plainly(value)
