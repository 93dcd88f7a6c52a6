"""What `gateway demo` prints: everything a newcomer needs to try every case by hand."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.demo.region import region
from gateway.runtime import Gateway
from gateway.settings import Settings

DEMO_AUDITOR_PASSPHRASE = b"demo-auditor-passphrase"  # published on purpose
"""What `gateway demo` encrypts the demo auditor key with when no GATEWAY_AUDITOR_PASSPHRASE
is set: a demo is for trying the gateway with synthetic data, and says so loudly."""


def guide(
    gw: Gateway, settings: Settings, secrets: Mapping[str, str], case_ids: Mapping[str, str]
) -> str:
    demo = region()
    base = settings.resolved_public_url + "/v1"
    out = [f"\nDemo region seeded in {settings.home} (policy {gw.engine.version[:19]}).", ""]

    out.append("Clients (client id, organisation type, role, secret):")
    for c in demo.clients.values():
        out.append(f"  {c.client_id:24} {c.org_type:17} {c.role:24} {secrets[c.client_id]}")

    out += ["", "Persons (synthetic; test BSN, who, cases as relation):"]
    for p in demo.persons.values():
        links = [
            f"{case.key} ({link.relation}{', minor' if link.minor else ''})"
            for case in demo.cases_of(p)
            for link in case.subjects
            if link.person == p
        ]
        out.append(f"  {p.bsn}  {p.label:52} {', '.join(links) or 'in no case'}")

    out += ["", "Cases (key = case id: purpose at stage; who may ask which sources now):"]
    for case in demo.cases.values():
        out.append(f"  {case.key} = {case_ids[case.key]}: {case.purpose} at {case.stage}")
        if case.stage == "afgesloten":
            out.append("      closed: every request is denied")
            continue
        members = {case.regisseur, *case.participants}
        for c in demo.clients.values():
            if c.organisation not in members:
                continue
            row = gw.catalog.necessity(case.purpose, case.stage, c.role)
            asks = ", ".join(sorted(row)) or "nothing at this stage"
            out.append(f"      {c.client_id:22} {asks}")

    mda, person = case_ids["mda"], demo.persons["mda.ex_partner"].bsn
    out += [
        "",
        "Try the MDA++ family overview as the municipality's procesregisseur:",
        "",
        f"  TOKEN=$(curl -s -u zaanstad-regie:{secrets['zaanstad-regie']} "
        f"-d grant_type=client_credentials {base}/oauth/token | python3 -c "
        "'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f'-d \'{{"case_id": "{mda}", "bsn": "{person}"}}\' {base}/disclosures',
        "",
        "Signal that the municipality is involved with someone on nuisance (with the same token);",
        "a housing corporation signalling debts on the same person (woco-consulent) is then told",
        "whom to call, and so is the municipality (docs/signals.md):",
        "",
        f"  curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' "
        f'-d \'{{"bsn": "{person}", "area": "overlast", "contact": {{"name": "Wijkteam"}}}}\' '
        f"{base}/signals",
        "",
        f"API docs: {settings.resolved_public_url}/docs   OpenAPI: {base}/openapi.json",
        "",
    ]
    if settings.console_local_provider:
        out += [
            f"Consoles for privacy officers and auditors: {settings.resolved_public_url}/console/",
            "  signed in at the shipped local provider (demo only) as privacy.officer / "
            "demo-officer-2026,",
            "  auditor / demo-auditor-2026 or dpo / demo-dpo-2026 (both roles); the auditor's "
            f"key for the session is {settings.resolved_auditor_dir}/auditor.key",
            "",
        ]
    return "\n".join(out)
