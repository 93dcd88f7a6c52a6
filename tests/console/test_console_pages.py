"""What the consoles' pages do: the same answers as the commands and the API, and every view of
ledger entries ledgered before it is shown."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.access import AuditorAccess
from gateway.audit.report import subject_report
from gateway.bsn import Bsn, Pseudonymiser
from gateway.console.sessions import SessionStore
from gateway.keys import AUDITOR_PRIVATE, POLICY_PUBLIC
from gateway.ledger.stores.base import EntryFilter
from gateway.policy import certificates
from gateway.policy.matrix import cells
from gateway.policy.signing import build_bundle
from gateway.settings import bundled_policy_dir
from gateway.testing import (
    TEST_AUDITOR_PASSPHRASE,
    TestGateway,
    console_client,
    console_csrf,
    console_sign_in,
    demo_bsn,
)


def _break_glass(gw: TestGateway) -> str:
    r = gw.client.post(
        "/v1/disclosures",
        json={
            "case_id": gw.case_ids["wvggz"],
            "bsn": demo_bsn("wvggz.man"),
            "sources": ["ggz.behandeling"],
            "urgency": "spoed",
            "justification": "Acute dreiging",
        },
        headers=gw.auth("politie-wijkagent"),
    )
    assert r.status_code == 200 and r.json()["review_required"] is True
    return str(r.json()["receipt"]["entry_hash"])


def test_the_matrix_page_shows_the_matrix_cells_filtered(cgw: TestGateway) -> None:
    client = console_client(cgw)
    console_sign_in(client, "privacy.officer")
    snapshot = cgw.gateway.active.current
    expected = [
        c
        for c in cells(snapshot.catalog, snapshot.policy.catalog)
        if c.purpose == "wvggz_verkennend_onderzoek" and c.role == "wijkagent"
    ]
    page = client.get(
        "/console/policy/matrix",
        params={"purpose": "wvggz_verkennend_onderzoek", "role": "wijkagent"},
    )
    assert page.status_code == 200
    rows = re.findall(r"<tr>\s*<td>wvggz_verkennend_onderzoek</td>", page.text)
    assert len(rows) == len(expected) > 0
    bad = client.get("/console/policy/matrix", params={"purpose": "nope", "colour": "red"})
    assert bad.status_code == 400
    assert "purpose: not one of the listed values" in bad.text
    assert "a filter this page does not have" in bad.text and "colour" not in bad.text


def test_the_dry_run_explains_each_field_as_the_engine_decides(cgw: TestGateway) -> None:
    client = console_client(cgw)
    page = console_sign_in(client, "privacy.officer")
    form = {
        "csrf": console_csrf(page.text),
        "purpose": "wvggz_verkennend_onderzoek",
        "role": "wijkagent",
        "stage": "casusoverleg",
        "source": "ggz.behandeling",
        "urgency": "spoed",
        "justified": "true",
    }
    r = client.post("/console/policy/dry-run", data=form)
    assert r.status_code == 200
    released = re.findall(r'<tr class="released">\s*<th scope="row">(\w+)</th>', r.text)
    withheld = re.findall(r'<tr class="withheld">\s*<th scope="row">(\w+)</th>', r.text)
    assert released == ["crisiskaart_contact"]  # the API's break-glass answer, field by field
    assert withheld and "break-glass" in r.text
    empty = client.post("/console/policy/dry-run", data={"csrf": form["csrf"]})
    assert empty.status_code == 400
    assert "purpose: choose one of the listed values" in empty.text
    assert "source: choose one of the listed values" in empty.text  # every problem listed


def test_break_glass_is_signed_off_once_and_ledgered(fresh: TestGateway) -> None:
    decision = _break_glass(fresh)
    client = console_client(fresh)
    console_sign_in(client, "privacy.officer")
    queue = client.get("/console/policy/break-glass")
    assert decision in queue.text and "Aftekenen" in queue.text
    viewed = fresh.new_entries()[-1]
    assert viewed.facts.action == "console.view"
    body = {
        "csrf": console_csrf(queue.text),
        "entry": decision,
        "verdict": "justified",
        "note": "Crisisdienst bevestigt",
    }
    signed = client.post("/console/policy/break-glass/review", data=body)
    assert signed.status_code == 200 and "Beoordeeld" in signed.text
    reviews = [e for e in fresh.new_entries() if e.facts.action == "break_glass.review"]
    assert len(reviews) == 1
    opened = fresh.ledgered(reviews[0].entry_hash)
    assert opened["decision_entry"] == decision and opened["verdict"] == "justified"
    assert opened["console_user"] == "privacy.officer"
    # A second sign-off of the same release changes nothing.
    client.post("/console/policy/break-glass/review", data={**body, "verdict": "unjustified"})
    again = [e for e in fresh.new_entries() if e.facts.action == "break_glass.review"]
    assert len(again) == 1
    # Only a break-glass release can be signed off.
    other = client.post("/console/policy/break-glass/review", data={**body, "entry": "0" * 64})
    assert other.status_code == 404


def test_a_sign_off_written_behind_the_gateways_back_is_no_sign_off(fresh: TestGateway) -> None:
    # A forged "justified" would take the release off the officer's queue and, the first
    # sign-off standing, block the real one. It fails its seal (ADR 0017).
    from sqlalchemy import insert

    from gateway.console.tables import break_glass_review
    from gateway.errors import RegistryTampered
    from gateway.sealcheck import check_registry

    decision = _break_glass(fresh)
    with fresh.gateway.db.begin() as conn:
        conn.execute(
            insert(break_glass_review).values(
                entry_hash=decision,
                verdict="justified",
                note="",
                reviewer="privacy.officer",
                reviewed_at="2026-11-24T10:00:00Z",
                seal="0" * 64,
            )
        )
    client = console_client(fresh)
    console_sign_in(client, "privacy.officer")
    queue = client.get("/console/policy/break-glass")
    assert decision in queue.text and "Aftekenen" in queue.text  # still waiting
    body = {"csrf": console_csrf(queue.text), "entry": decision, "verdict": "unjustified"}
    refused = client.post("/console/policy/break-glass/review", data=body)
    assert refused.status_code == 503
    assert not [e for e in fresh.new_entries() if e.facts.action == "break_glass.review"]
    with pytest.raises(RegistryTampered):
        check_registry(fresh.gateway.db, fresh.gateway.seals)


def test_a_policy_activation_changed_behind_the_gateways_back_is_not_shown(
    fresh: TestGateway,
) -> None:
    # The ledger's policy.activate entry is sealed for the auditor; the officers read this row.
    # A signer or source that never was must not appear as history (ADR 0017).
    from sqlalchemy import text

    from gateway.errors import RegistryTampered
    from gateway.sealcheck import check_registry

    client = console_client(fresh)
    console_sign_in(client, "privacy.officer")
    before = client.get("/console/policy/versions")
    assert before.status_code == 200 and "mallory" not in before.text
    with fresh.gateway.db.begin() as conn:
        conn.execute(text("UPDATE policy_activation SET signer = 'mallory'"))
    after = client.get("/console/policy/versions")
    assert after.status_code == 503 and "mallory" not in after.text
    with pytest.raises(RegistryTampered):
        check_registry(fresh.gateway.db, fresh.gateway.seals)


def test_finding_a_person_never_puts_the_bsn_in_an_address_and_is_ledgered(
    fresh: TestGateway,
) -> None:
    bsn = demo_bsn("mda.ex_partner")
    client = console_client(fresh)
    page = console_sign_in(client, "auditor")
    urls: list[str] = []
    client.event_hooks["request"].append(lambda request: urls.append(str(request.url)))
    pseudonym = Pseudonymiser(fresh.gateway.keys.pseudonym_key).pseudonym(Bsn(bsn))
    expected = list(fresh.gateway.store.entries(EntryFilter(subject=pseudonym)))
    search = client.get("/console/audit/search")
    r = client.post("/console/audit/person", data={"bsn": bsn, "csrf": console_csrf(search.text)})
    assert r.status_code == 200
    assert bsn not in r.text and all(bsn not in u for u in urls)
    shown = re.findall(r"<tr><td>(\d+)</td>", r.text)
    # The view itself is ledgered under the person, before it is shown.
    last = fresh.new_entries()[-1]
    assert last.facts.action == "console.view" and last.subject == pseudonym
    assert [int(s) for s in shown] == [e.seq for e in expected] and shown
    bad = client.post("/console/audit/person", data={"bsn": "123", "csrf": console_csrf(page.text)})
    assert bad.status_code == 400 and "not a valid BSN" in bad.text and ">123<" not in bad.text


def test_the_access_report_needs_the_auditors_key_for_this_session(fresh: TestGateway) -> None:
    bsn = demo_bsn("mda.ex_partner")
    fresh.client.post(
        "/v1/disclosures",
        json={"case_id": fresh.case_ids["mda"], "bsn": bsn},
        headers=fresh.auth("zaanstad-regie"),
    )
    signal = fresh.client.post(
        "/v1/signals",
        json={"bsn": bsn, "area": "overlast", "contact": {"name": "Wijkteam"}},
        headers=fresh.auth("zaanstad-regie"),
    )
    assert signal.status_code == 201
    client = console_client(fresh)
    page = console_sign_in(client, "auditor")
    csrf = console_csrf(page.text)
    no_key = client.post("/console/audit/report", data={"bsn": bsn, "csrf": csrf})
    assert no_key.status_code == 400 and "auditor key" in no_key.text
    pem = (fresh.gateway.settings.resolved_auditor_dir / AUDITOR_PRIVATE).read_bytes()
    wrong = client.post(
        "/console/audit/key",
        data={"csrf": csrf, "passphrase": "not it"},
        files={"keyfile": ("auditor.key", pem)},
    )
    assert wrong.status_code == 400
    loaded = client.post(
        "/console/audit/key",
        data={"csrf": csrf, "passphrase": TEST_AUDITOR_PASSPHRASE.decode()},
        files={"keyfile": ("auditor.key", pem)},
    )
    assert loaded.status_code == 200 and "Uw sleutel is voor deze sessie geladen." in loaded.text
    report = client.post("/console/audit/report", data={"bsn": bsn, "csrf": csrf})
    assert report.status_code == 200 and "zaanstad" in report.text.lower()
    assert "<td>overlast</td>" in report.text  # the person's signal, with its area
    download = client.post(
        "/console/audit/report", data={"bsn": bsn, "csrf": csrf, "format": "json"}
    )
    assert download.headers["content-disposition"].startswith("attachment")
    gw = fresh.gateway
    offline = AuditorAccess(
        gw.db,
        gw.store,
        fresh.auditor_key(),
        gw.keys.ledger_signing.public_key(),
        Pseudonymiser(gw.keys.pseudonym_key),
    )
    expected = subject_report(offline, Bsn(bsn))  # what `gateway audit report` gives
    doc = download.json()
    assert doc["disclosures"] == expected["disclosures"] and doc["disclosures"]
    assert bsn not in download.text
    views = [e for e in fresh.new_entries() if e.facts.action == "console.view"]
    assert len(views) == 2  # the HTML report and the download, each ledgered
    # The key is kept sealed under the session cookie: the database alone cannot open it.
    token = client.cookies.get("__Host-console")
    store = SessionStore(
        fresh.gateway.db,
        fresh.gateway.seals,
        idle=timedelta(minutes=15),
        lifetime=timedelta(hours=8),
    )
    assert store.auditor_key("another-token-entirely") is None
    assert store.auditor_key(token or "") is not None
    client.post("/console/logout", data={"csrf": csrf})
    assert store.auditor_key(token or "") is None  # gone with the session


def test_charts_count_what_the_ledger_headers_say(fresh: TestGateway) -> None:
    for _ in range(3):
        fresh.client.post(
            "/v1/disclosures",
            json={"case_id": fresh.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
            headers=fresh.auth("zaanstad-regie"),
        )
    client = console_client(fresh)
    console_sign_in(client, "auditor")
    r = client.get("/console/audit/charts")
    assert r.status_code == 200 and r.text.count("<svg") == 3
    decisions = list(fresh.gateway.store.entries(EntryFilter(action="disclosure.decision")))
    permits = sum(1 for e in decisions if e.facts.outcome != "deny")
    cells = re.findall(r'<th scope="row">mda_plus_plus</th><td>(\d+)</td><td>(\d+)</td>', r.text)
    assert cells and int(cells[0][0]) == permits
    assert client.get("/console/audit/charts", params={"from": "yesterday"}).status_code == 400
    other = client.get("/console/audit/charts", params={"purpose": "huisverbod"})
    assert other.status_code == 200 and '<th scope="row">mda_plus_plus</th>' not in other.text
    assert client.get("/console/audit/charts", params={"purpose": "x"}).status_code == 400


def test_verification_from_the_console(fresh: TestGateway) -> None:
    client = console_client(fresh)
    page = console_sign_in(client, "auditor")
    r = client.post("/console/audit/verify", data={"csrf": console_csrf(page.text)})
    assert r.status_code == 200 and "De keten klopt:" in r.text


VT_ROW = "gemeente.brp: {naam: plain, geboortedatum: age, adres: plain, huishouden: count}"


def test_replay_of_a_signed_candidate_with_the_auditors_key_handed_over(
    fresh: TestGateway, tmp_path: Path
) -> None:
    gw = fresh.gateway
    affected = []
    for client in ("veiligthuis", "politie-wijkagent"):
        r = fresh.client.post(
            "/v1/disclosures",
            json={"case_id": fresh.case_ids["mda"], "bsn": demo_bsn("mda.ex_partner")},
            headers=fresh.auth(client),
        )
        assert r.status_code == 200
        if client == "veiligthuis":
            affected.append(r.json()["receipt"]["entry_hash"])
    # A candidate without one field for Veilig Thuis, signed by the officers' key.
    candidate = tmp_path / "candidate"
    shutil.copytree(bundled_policy_dir(), candidate)
    necessity = candidate / "catalog" / "necessity.yaml"
    text = necessity.read_text()
    necessity.write_text(text.replace(VT_ROW, VT_ROW.replace(", huishouden: count", ""), 1))
    signing = Ed25519PrivateKey.generate()
    (gw.settings.keys_dir / POLICY_PUBLIC).write_bytes(
        signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    bundle, _ = build_bundle(candidate, signing, "2026-11-candidate")

    client = console_client(fresh)
    page = console_sign_in(client, "privacy.officer")
    csrf = console_csrf(page.text)
    pem = (gw.settings.resolved_auditor_dir / AUDITOR_PRIVATE).read_bytes()
    files = {"bundle": ("candidate.tar.gz", bundle), "keyfile": ("auditor.key", pem)}
    form = {"csrf": csrf, "candidate": "bundle", "passphrase": TEST_AUDITOR_PASSPHRASE.decode()}
    r = client.post("/console/policy/replay", data=form, files=files)
    assert r.status_code == 200, r.text[-2000:]
    assert re.search(r"<dt>Verzoeken met verschil</dt><dd>(\d+)</dd>", r.text).group(1) == str(  # type: ignore[union-attr]
        len(affected)
    )
    assert "−huishouden (count)" in r.text
    last = fresh.new_entries()[-1]
    assert last.facts.action == "console.view"
    assert fresh.ledgered(last.entry_hash)["view"] == "replay"
    # Without the auditor's key, or with a bundle no trusted key signed: nothing is replayed.
    no_key = client.post(
        "/console/policy/replay",
        data={"csrf": csrf, "candidate": "bundle"},
        files={"bundle": ("candidate.tar.gz", bundle)},
    )
    assert no_key.status_code == 400
    forged, _ = build_bundle(candidate, Ed25519PrivateKey.generate(), "forged")
    unsigned = client.post(
        "/console/policy/replay",
        data=form,
        files={"bundle": ("x.tar.gz", forged), "keyfile": ("auditor.key", pem)},
    )
    assert unsigned.status_code == 400 and "signed by a trusted key" in unsigned.text
    assert fresh.new_entries()[-1].entry_hash == last.entry_hash  # nothing more ledgered


def test_the_versions_page_shows_a_kept_certificate(fresh: TestGateway) -> None:
    gw = fresh.gateway
    version = gw.active.current.version
    certificate = {
        "policy_version": version,
        "engine": "opa",
        "input_space": 158_400,
        "reductions": {},
        "invariants": {"geheim": "no geheim field ever"},
        "result": "proved",
        "seconds": 58.2,
        "counter_examples": [],
    }
    kept = certificates.save(gw.settings, certificate)
    assert kept.parent == gw.settings.home / "certificates"
    assert certificates.load(gw.settings, "sha256:another") is None
    client = console_client(fresh)
    console_sign_in(client, "privacy.officer")
    page = client.get("/console/policy/versions")
    assert page.status_code == 200
    assert "bewezen" in page.text and "158,400" in page.text and "no geheim field ever" in page.text
    # An incomplete proof says so, and which reduction the policy does not support.
    unchecked = "subject.consents: the space holds only whether …, but the policy reads more"
    certificates.save(
        gw.settings, {**certificate, "result": "incomplete", "unchecked_reductions": [unchecked]}
    )
    page = client.get("/console/policy/versions")
    assert "bewezen" not in page.text and "onvolledig" in page.text
    assert "subject.consents: the space holds only" in page.text
    # A file that names another version is not shown as this version's proof.
    kept.write_text(kept.read_text().replace(version, "sha256:" + "0" * 64))
    assert "onvolledig" not in client.get("/console/policy/versions").text


def test_only_the_replay_form_takes_a_large_body(cgw: TestGateway) -> None:
    client = console_client(cgw)
    page = console_sign_in(client, "privacy.officer")
    csrf = console_csrf(page.text)
    big = b"x" * 200_000
    elsewhere = client.post(
        "/console/policy/dry-run", data={"csrf": csrf}, files={"f": ("f.bin", big)}
    )
    assert elsewhere.status_code == 413
    replay = client.post(
        "/console/policy/replay", data={"csrf": csrf}, files={"bundle": ("b.tar.gz", big)}
    )
    assert replay.status_code == 400 and "signed by a trusted key" in replay.text


def test_hostile_filters_and_form_values_get_a_page_that_repeats_none_of_them(
    cgw: TestGateway,
) -> None:
    # Found by a hostile-client probe: an unknown filter's name was shown on the page, a value
    # failing its form rule got FastAPI's 422 JSON with the value in it, and a period ending on
    # the calendar's last day was a 500 (the day after it is not a date).
    bsn = demo_bsn("mda.ex_partner")
    auditor, officer = console_client(cgw), console_client(cgw)
    console_sign_in(auditor, "auditor")
    console_sign_in(officer, "privacy.officer")
    csrf = console_csrf(auditor.get("/console/audit/search").text)
    officer_csrf = console_csrf(officer.get("/console/policy/dry-run").text)
    answers = [
        auditor.get(f"/console/audit/search?{bsn}=1"),
        auditor.get(f"/console/audit/charts?{bsn}=1"),
        officer.get(f"/console/policy/matrix?{bsn}=1"),
        auditor.get("/console/audit/charts?from=0001-01-01&to=9999-12-31"),
        auditor.get("/console/audit/search?to=9999-12-31"),
        auditor.post("/console/audit/report", data={"bsn": bsn, "csrf": csrf, "format": bsn}),
        officer.post("/console/policy/dry-run", data={"csrf": officer_csrf, "purpose": bsn * 8}),
        officer.post(
            "/console/policy/break-glass/review", data={"csrf": officer_csrf, "seq": bsn + "x"}
        ),
    ]
    for r in answers:
        assert r.status_code == 400, (r.request.url, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert bsn not in r.text
    assert "a filter this page does not have" in answers[0].text
    assert "format: not a valid value" in answers[5].text
