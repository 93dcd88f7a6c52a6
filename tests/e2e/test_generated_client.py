"""A client generated from /v1/openapi.json by a maintained generator (openapi-python-client)
drives the served demo: token, cases, a disclosure and a denial. If the generated client cannot
express a call, the document is wrong."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.testing import ServedDemo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client_package(demo: ServedDemo, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("generated")
    spec = out / "openapi.json"
    spec.write_bytes(httpx.get(f"{demo.base}/openapi.json").content)
    target = str(out / "gateway_client")
    generator = [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
    generated = subprocess.run(
        [*generator, "--path", str(spec), "--output-path", target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("gateway_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.split(".")[0] == "gateway_client"]:
            del sys.modules[name]


def test_token_cases_disclosure_and_denial(client_package: Any, demo: ServedDemo) -> None:
    gc = client_package
    get_token = importlib.import_module("gateway_client.api.auth.get_token")
    list_cases = importlib.import_module("gateway_client.api.cases.list_cases")
    disclose = importlib.import_module("gateway_client.api.sharing.disclose")
    models = importlib.import_module("gateway_client.models")

    def token_for(client_id: str) -> str:
        form = models.TokenForm(
            grant_type="client_credentials",
            client_id=client_id,
            client_secret=demo.secrets["clients"][client_id],
        )
        answer = get_token.sync(client=gc.Client(base_url=demo.base), body=form)
        assert isinstance(answer, models.TokenOut), answer
        return str(answer.access_token)

    regie = gc.AuthenticatedClient(base_url=demo.base, token=token_for("zaanstad-regie"))
    cases = list_cases.sync(client=regie)
    assert isinstance(cases, models.CaseList)
    mda = next(c for c in cases.cases if c.case_id == demo.secrets["cases"]["mda"])
    assert mda.regisseur and mda.askable

    body = models.DisclosureBody(case_id=mda.case_id, bsn="999990019")
    released = disclose.sync(client=regie, body=body)
    assert isinstance(released, models.DisclosureOut), released
    assert any(s.fields for s in released.sources) and released.receipt.entry_hash

    outsider = gc.AuthenticatedClient(base_url=demo.base, token=token_for("purmerend-regie"))
    denied = disclose.sync_detailed(client=outsider, body=body)
    assert denied.status_code == 403
    assert isinstance(denied.parsed, models.DeniedOut), denied.parsed
    assert denied.parsed.reasons == ["no_access_to_case"]

    wrong = models.DisclosureBody(case_id=mda.case_id, bsn="999990018")  # fails the elfproef
    invalid = disclose.sync_detailed(client=regie, body=wrong)
    assert invalid.status_code == 400
    assert isinstance(invalid.parsed, models.ProblemOut)
    assert [e.location for e in invalid.parsed.errors] == ["/bsn"]


def test_the_generated_package_is_complete(client_package: Any) -> None:
    root = Path(client_package.__file__).parent
    operations = {p.stem for p in (root / "api").rglob("*.py") if p.stem != "__init__"}
    assert operations == {
        "get_token",
        "health",
        "list_cases",
        "create_case",
        "set_case_stage",
        "link_subject",
        "disclose",
        "policy_dry_run",
        "register_signal",
        "list_signals",
        "list_signal_matches",
        "withdraw_signal",
        "start_case_from_match",
        "get_webhook_key",
    }


def test_signals_through_the_generated_client(client_package: Any, demo: ServedDemo) -> None:
    gc = client_package
    get_token = importlib.import_module("gateway_client.api.auth.get_token")
    register = importlib.import_module("gateway_client.api.signals.register_signal")
    matches = importlib.import_module("gateway_client.api.signals.list_signal_matches")
    models = importlib.import_module("gateway_client.models")

    def client_for(client_id: str) -> Any:
        form = models.TokenForm(
            grant_type="client_credentials",
            client_id=client_id,
            client_secret=demo.secrets["clients"][client_id],
        )
        answer = get_token.sync(client=gc.Client(base_url=demo.base), body=form)
        return gc.AuthenticatedClient(base_url=demo.base, token=str(answer.access_token))

    bsn = "960000008"  # synthetic (gateway.testing.synthetic_bsn(0))
    for who, area in (("woco-consulent", "schulden"), ("zaanstad-regie", "overlast")):
        body = models.SignalCreate(
            bsn=bsn,
            area=models.SignalCreateArea(area),
            contact=models.SignalContact(name="Team"),
            consent=False,
        )
        done = register.sync_detailed(client=client_for(who), body=body)
        assert done.status_code in (200, 201) and isinstance(done.parsed, models.SignalRegistered)
    page = matches.sync(client=client_for("woco-consulent"), limit=1)
    assert isinstance(page, models.MatchList), page
    assert page.matches[0].other.organisation == "Gemeente Zaanstad"
