"""The consoles in a real browser: Debian's Chromium, driven by Playwright, against `gateway demo`
served as its own process. Each role signs in at the local provider and does each of its tasks;
axe-core checks every page (no serious or critical violation); screenshots are kept as test
artefacts in build/test-artefacts/console/ (GATEWAY_TEST_ARTEFACTS overrides)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from gateway.demo.guide import DEMO_AUDITOR_PASSPHRASE
from gateway.keys import AUDITOR_PRIVATE
from gateway.testing import CONSOLE_USERS, ServedDemo, demo_bsn, served_demo

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("GATEWAY_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get("GATEWAY_TEST_ARTEFACTS", "build/test-artefacts")) / "console"
_AXE = Axe()
BSN = demo_bsn("wvggz.man")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedDemo]:
    with served_demo(tmp_path_factory.mktemp("console-demo")) as demo:
        yield demo


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (scripts/check does) or set "
            "GATEWAY_CHROMIUM"
        )
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


def origin(site: ServedDemo) -> str:
    return site.base.removesuffix("/v1")


def checked(page: Page, name: str, *, full_page: bool = True) -> None:
    """Every page a test visits: a screenshot kept, axe-core clean of serious and critical
    violations, and no BSN in its address or its text."""
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=full_page)
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in _AXE.run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert violations == [], f"{name}: {violations}"
    assert BSN not in page.url and BSN not in page.content()


def sign_in(
    browser: Browser, site: ServedDemo, user: str, *, accept_downloads: bool = False
) -> Page:
    context = browser.new_context(accept_downloads=accept_downloads)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(origin(site) + "/console/")
    checked(page, "signed-out")
    page.get_by_role("link", name="Aanmelden").click()
    checked(page, "local-provider")
    page.get_by_label("Gebruikersnaam").fill(user)
    page.get_by_label("Wachtwoord").fill(CONSOLE_USERS[user])
    page.get_by_role("button", name="Aanmelden").click()
    page.wait_for_url(re.compile(r".*/console/$"))
    return page


def break_glass_release(site: ServedDemo) -> str:
    """A break-glass disclosure through the API, as the police's application would make one."""
    client = "politie-wijkagent"
    token = httpx.post(
        f"{site.base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client, site.secrets["clients"][client]),
    ).json()["access_token"]
    r = httpx.post(
        f"{site.base}/disclosures",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "case_id": site.secrets["cases"]["wvggz"],
            "bsn": BSN,
            "sources": ["ggz.behandeling"],
            "urgency": "spoed",
            "justification": "Acute dreiging",
        },
    )
    assert r.status_code == 200 and r.json()["review_required"] is True
    return str(r.json()["receipt"]["entry_hash"])


def test_privacy_officer_tasks(browser: Browser, site: ServedDemo) -> None:
    release = break_glass_release(site)
    page = sign_in(browser, site, "privacy.officer")
    checked(page, "officer-home")

    page.get_by_role("link", name="Deelmatrix").first.click()
    page.get_by_label("Doel").select_option("wvggz_verkennend_onderzoek")
    page.get_by_label("Rol").select_option("wijkagent")
    page.get_by_role("button", name="Filteren").click()
    assert "purpose=wvggz_verkennend_onderzoek" in page.url
    assert page.locator("tbody tr").count() > 0
    checked(page, "officer-matrix")

    page.get_by_role("link", name="Proefbeslissing").first.click()
    page.get_by_label("Doel").select_option("wvggz_verkennend_onderzoek")
    page.get_by_label("Rol").select_option("wijkagent")
    page.get_by_label("Fase").select_option("casusoverleg")
    page.get_by_label("Bron").select_option("ggz.behandeling")
    page.get_by_label("Spoed").select_option("spoed")
    page.get_by_label("Onderbouwing").check()
    page.get_by_role("button", name="Versturen").click()
    released = page.locator("tr.released th").all_inner_texts()
    assert released == ["crisiskaart_contact"], page.locator("main").inner_text()
    checked(page, "officer-dry-run")

    page.get_by_role("link", name="Beleidsversies").first.click()
    assert page.locator("section.card").count() >= 1  # the activation at start-up
    assert "in werking" in page.locator("section.card h2").first.inner_text()
    checked(page, "officer-versions")

    page.get_by_role("link", name="Herafspelen").first.click()
    checked(page, "officer-replay-form")
    page.get_by_label("De beleidsmap van deze deelpoort (ontwikkelmodus)").check()
    # The auditor, beside the officer, hands over the key for this one replay.
    key_file = site.home / "auditor" / AUDITOR_PRIVATE
    page.get_by_label("Sleutelbestand (auditor.key)").set_input_files(str(key_file))
    page.get_by_label("Wachtwoordzin").fill(DEMO_AUDITOR_PASSPHRASE.decode())
    page.locator("form button[type=submit]").last.click()
    assert "Geen verschillen." in page.content()  # the policy in force, replayed on itself
    checked(page, "officer-replay")

    page.get_by_role("link", name="Doorbraken te beoordelen").first.click()
    card = page.locator("section.card", has=page.locator(f"input[value='{release}']"))
    checked(page, "officer-break-glass")
    card.get_by_label("gerechtvaardigd", exact=True).check()
    card.get_by_label("Toelichting").fill("Crisisdienst bevestigt de dreiging")
    card.get_by_role("button", name="Aftekenen").click()
    assert "Beoordeeld: gerechtvaardigd" in page.content()
    checked(page, "officer-break-glass-signed")

    # The auditor's pages are not the officer's.
    assert page.goto(origin(site) + "/console/audit").status == 403  # type: ignore[union-attr]
    checked(page, "officer-refused")
    page.context.close()


def test_auditor_tasks(browser: Browser, site: ServedDemo) -> None:
    page = sign_in(browser, site, "auditor", accept_downloads=True)
    checked(page, "auditor-home")

    page.get_by_role("link", name="Grootboek").first.click()
    page.get_by_role("button", name="Keten controleren").click()
    assert "De keten klopt" in page.locator("p.ok").inner_text()
    checked(page, "auditor-ledger")

    page.get_by_role("link", name="Zoeken").first.click()
    page.get_by_label("Organisatie").select_option(index=1)
    page.get_by_role("button", name="Filteren").click()
    checked(page, "auditor-search")

    page.get_by_label("BSN").first.fill(BSN)
    page.locator("form[action='/console/audit/person'] button").click()
    assert page.url.endswith("/console/audit/person")  # posted, not in the address
    assert page.locator("tbody tr").count() >= 1
    checked(page, "auditor-person")

    page.get_by_role("link", name="Auditorsleutel voor deze sessie").first.click()
    checked(page, "auditor-key")
    key_file = site.home / "auditor" / AUDITOR_PRIVATE
    page.get_by_label("Sleutelbestand (auditor.key)").set_input_files(str(key_file))
    page.get_by_label("Wachtwoordzin").fill(DEMO_AUDITOR_PASSPHRASE.decode())
    page.get_by_role("button", name="Versturen").click()
    assert "geladen" in page.locator("p.ok").inner_text()

    page.get_by_role("link", name="Zoeken").first.click()
    report_form = page.locator("form[action='/console/audit/report']")
    report_form.get_by_label("BSN").fill(BSN)
    report_form.get_by_role("button").click()
    assert page.locator("h1").inner_text() == "Inzageverslag (art. 15 AVG)"
    checked(page, "auditor-report")

    page.get_by_role("link", name="Zoeken").first.click()
    report_form = page.locator("form[action='/console/audit/report']")
    report_form.get_by_label("BSN").fill(BSN)
    report_form.get_by_label("format").select_option("json")
    with page.expect_download() as download:
        report_form.get_by_role("button").click()
    doc = json.loads(Path(download.value.path()).read_text())
    assert "disclosures" in doc and BSN not in json.dumps(doc)

    page.get_by_role("link", name="Verloop").first.click()
    assert page.locator("svg[role='img']").count() == 3
    checked(page, "auditor-charts")

    page.get_by_role("link", name="Opvallend").first.click()
    checked(page, "auditor-anomalies")

    assert page.goto(origin(site) + "/console/policy/matrix").status == 403  # type: ignore[union-attr]
    page.get_by_role("button", name="Afmelden").click()
    assert page.goto(origin(site) + "/console/audit").url.endswith("/console/")  # type: ignore[union-attr]
    page.context.close()


def test_keyboard_only_and_english(browser: Browser, site: ServedDemo) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(origin(site) + "/console/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Sign in without a mouse.
    page.get_by_role("link", name="Aanmelden").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/local-idp/authorize.*"))
    page.keyboard.press("Tab")  # skip link
    while page.evaluate("document.activeElement.id") != "username":
        page.keyboard.press("Tab")
    page.keyboard.type("dpo")
    page.keyboard.press("Tab")
    page.keyboard.type(CONSOLE_USERS["dpo"])
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/console/$"))
    page.get_by_role("link", name="English").click()
    page.get_by_role("link", name="Sharing matrix").first.click()
    assert page.locator("h1").inner_text() == "Sharing matrix"
    checked(page, "english-matrix", full_page=False)  # the whole matrix is a tall page
    context.close()
