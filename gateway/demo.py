"""The synthetic demo region Zaanstreek-Waterland: organisations, clients, families, cases and
one database per source system.

Everything here is fake: BSNs are test numbers from the 9999xxxxx range that pass the elfproef,
OINs start with 00000099, names are "Demo ..." and contacts are team phone lines. The families
are chosen so a demo shows allow, partial and deny across the five purposes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert
from sqlmodel import Session, select

from connectors.sql import records_table
from gateway.auth.clients import new_secret, register_client
from gateway.auth.principal import Principal
from gateway.bsn import Bsn
from gateway.cases.models import CaseRow
from gateway.catalog import Catalog
from gateway.db import make_engine
from gateway.runtime import Gateway
from gateway.typing import STAGES, ClientId, Oin


def _oin(n: int) -> str:
    return f"00000099{n:012d}"


ORGANISATIONS: dict[str, tuple[str, str]] = {
    # key: (OIN, org type) — names are in CLIENTS
    "zaanstad": (_oin(1), "gemeente"),
    "politie": (_oin(2), "politie"),
    "om": (_oin(3), "om"),
    "rvdk": (_oin(4), "rvdk"),
    "reclassering": (_oin(5), "reclassering"),
    "veilig_thuis": (_oin(6), "veilig_thuis"),
    "ggd": (_oin(7), "ggd"),
    "ggz": (_oin(8), "ggz"),
    "woco": (_oin(9), "woningcorporatie"),
    "purmerend": (_oin(10), "gemeente"),
}


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    org: str
    organisation: str
    role: str
    user_ref: str

    @property
    def oin(self) -> str:
        return ORGANISATIONS[self.org][0]

    @property
    def org_type(self) -> str:
        return ORGANISATIONS[self.org][1]

    def principal(self) -> Principal:
        return Principal(
            ClientId(self.client_id), Oin(self.oin), self.org_type, self.role, self.user_ref
        )


CLIENTS: tuple[DemoClient, ...] = (
    DemoClient("zaanstad-regie", "zaanstad", "Gemeente Zaanstad", "procesregisseur", "zs-u-0001"),
    DemoClient(
        "zaanstad-meldpunt", "zaanstad", "Gemeente Zaanstad", "meldpunt_medewerker", "zs-u-0002"
    ),
    DemoClient(
        "politie-wijkagent", "politie", "Politie Zaanstreek-Waterland", "wijkagent", "pol-u-0001"
    ),
    DemoClient("om-officier", "om", "OM Noord-Holland", "officier_van_justitie", "om-u-0001"),
    DemoClient(
        "rvdk-onderzoek",
        "rvdk",
        "Raad voor de Kinderbescherming",
        "raadsonderzoeker",
        "rvdk-u-0001",
    ),
    DemoClient(
        "reclassering-toezicht",
        "reclassering",
        "Reclassering Nederland",
        "reclasseringswerker",
        "rn-u-0001",
    ),
    DemoClient(
        "veiligthuis",
        "veilig_thuis",
        "Veilig Thuis Zaanstreek-Waterland",
        "veilig_thuis_medewerker",
        "vt-u-0001",
    ),
    DemoClient("ggd-oggz", "ggd", "GGD Zaanstreek-Waterland", "ggd_medewerker", "ggd-u-0001"),
    DemoClient(
        "ggz-behandelaar", "ggz", "GGZ Noord-Holland-Noord", "ggz_behandelaar", "ggz-u-0001"
    ),
    DemoClient(
        "woco-consulent", "woco", "Woningcorporatie Parteon", "woonconsulent", "woco-u-0001"
    ),
    DemoClient(
        "purmerend-regie", "purmerend", "Gemeente Purmerend", "procesregisseur", "pm-u-0001"
    ),
)
CLIENTS_BY_ID = {c.client_id: c for c in CLIENTS}


@dataclass(frozen=True)
class Person:
    key: str
    bsn: str
    naam: str
    geboortedatum: str
    records: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _team(name: str, phone: str) -> str:
    return f"{name}, tel. {phone}"


WIJKTEAM = _team("Sociaal wijkteam Zaandam-Oost", "075-0000101")
VT_TEAM = _team("Veilig Thuis team Zaanstreek", "0800-0000002")
RVDK_TEAM = _team("RvdK vestiging Haarlem, team Zaanstreek", "023-0000103")
RN_TEAM = _team("Reclassering unit Zaanstad", "075-0000104")
GGZ_TEAM = _team("GGZ FACT-team Zaandam", "075-0000105")
GGZ_CRISIS = _team("GGZ crisisdienst (24/7)", "075-0000106")

PERSONS: tuple[Person, ...] = (
    # --- MDA++: mother, ex-partner under probation, two children known to VT and RvdK --------
    Person(
        "mda.moeder",
        "999990007",
        "Demo Anna de Vries",
        "1988-04-12",
        {
            "gemeente.brp": {
                "adres": "Demostraat 1",
                "woonplaats": "Zaandam",
                "huishouden": ["moeder", "kind", "kind"],
            },
            "gemeente.wijkteam": {
                "actieve_ondersteuning": True,
                "domeinen": ["schulden", "jeugd"],
                "contactpersoon": WIJKTEAM,
                "gespreksverslagen": ["(geheim verslag)"],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 0,
                "incidentsoorten": [],
                "laatste_incident": None,
                "wapens": False,
                "risicotaxatie": None,
                "processen_verbaal": [],
            },
            "veilig_thuis.meldingen": {
                "lopende_melding": True,
                "status_veiligheidsbeoordeling": "onveilig",
                "risico": "hoog",
                "kinderen_betrokken": True,
                "contactpersoon": VT_TEAM,
            },
        },
    ),
    Person(
        "mda.ex_partner",
        "999990019",
        "Demo Bram Bakker",
        "1985-09-30",
        {
            "gemeente.brp": {
                "adres": "Proefweg 7",
                "woonplaats": "Wormerveer",
                "huishouden": ["alleen"],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 4,
                "incidentsoorten": ["huiselijk geweld", "bedreiging"],
                "laatste_incident": "2026-10-03",
                "wapens": True,
                "risicotaxatie": "hoog (B-SAFER)",
                "processen_verbaal": ["PV-DEMO-1", "PV-DEMO-2"],
            },
            "om.strafzaken": {
                "lopende_zaak": True,
                "status": "gedagvaard",
                "contactverbod": True,
                "volgende_zitting": "2027-01-18",
            },
            "reclassering.toezicht": {
                "onder_toezicht": True,
                "bijzondere_voorwaarden": ["contactverbod", "enkelband", "agressietraining"],
                "risiconiveau": "hoog",
                "toezichthouder": RN_TEAM,
            },
            "veilig_thuis.meldingen": {
                "lopende_melding": True,
                "status_veiligheidsbeoordeling": "onveilig",
                "risico": "hoog",
                "kinderen_betrokken": True,
                "contactpersoon": VT_TEAM,
            },
        },
    ),
    Person(
        "mda.kind1",
        "999990020",
        "Demo Cas de Vries",
        "2014-06-02",
        {
            "gemeente.brp": {
                "adres": "Demostraat 1",
                "woonplaats": "Zaandam",
                "huishouden": ["moeder", "kind", "kind"],
            },
            "veilig_thuis.meldingen": {
                "lopende_melding": True,
                "status_veiligheidsbeoordeling": "onveilig",
                "risico": "hoog",
                "kinderen_betrokken": True,
                "contactpersoon": VT_TEAM,
            },
            "rvdk.onderzoeken": {
                "lopend_onderzoek": True,
                "soort": "beschermingsonderzoek",
                "maatregel": "ondertoezichtstelling (verzoek)",
                "contactpersoon": RVDK_TEAM,
            },
        },
    ),
    Person(
        "mda.kind2",
        "999990032",
        "Demo Dido de Vries",
        "2018-11-20",
        {
            "gemeente.brp": {
                "adres": "Demostraat 1",
                "woonplaats": "Zaandam",
                "huishouden": ["moeder", "kind", "kind"],
            },
            "veilig_thuis.meldingen": {
                "lopende_melding": True,
                "status_veiligheidsbeoordeling": "onveilig",
                "risico": "midden",
                "kinderen_betrokken": True,
                "contactpersoon": VT_TEAM,
            },
            "rvdk.onderzoeken": {
                "lopend_onderzoek": True,
                "soort": "beschermingsonderzoek",
                "maatregel": None,
                "contactpersoon": RVDK_TEAM,
            },
        },
    ),
    # --- WvGGZ: a man in GGZ treatment, behind on rent, known to the police -------------------
    Person(
        "wvggz.man",
        "999990044",
        "Demo Erik Smit",
        "1979-02-14",
        {
            "gemeente.brp": {
                "adres": "Testlaan 22",
                "woonplaats": "Purmerend",
                "huishouden": ["alleen"],
            },
            "gemeente.wijkteam": {
                "actieve_ondersteuning": False,
                "domeinen": [],
                "contactpersoon": WIJKTEAM,
                "gespreksverslagen": [],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 2,
                "incidentsoorten": ["verward gedrag", "overlast"],
                "laatste_incident": "2026-11-02",
                "wapens": False,
                "risicotaxatie": "midden",
                "processen_verbaal": ["PV-DEMO-3"],
            },
            "ggz.behandeling": {
                "in_behandeling": True,
                "crisiskaart_contact": GGZ_CRISIS,
                "regiebehandelaar": GGZ_TEAM,
                "diagnose": "(geheim)",
                "medicatie": ["(geheim)"],
            },
            "woningcorporatie.huur": {
                "huurstatus": "huurder",
                "ontruimingsprocedure": True,
                "huurachterstand": 1450,
                "overlastmeldingen": 3,
            },
        },
    ),
    # --- Persoonsgerichte aanpak: a repeat offender in a Top X approach -----------------------
    Person(
        "pga.veelpleger",
        "999990056",
        "Demo Faris Mulder",
        "1999-07-07",
        {
            "gemeente.brp": {
                "adres": "Fictieplein 3",
                "woonplaats": "Zaandam",
                "huishouden": ["ouder", "ouder", "broer"],
            },
            "gemeente.wijkteam": {
                "actieve_ondersteuning": True,
                "domeinen": ["schulden"],
                "contactpersoon": WIJKTEAM,
                "gespreksverslagen": [],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 11,
                "incidentsoorten": ["winkeldiefstal", "inbraak", "openlijk geweld"],
                "laatste_incident": "2026-11-15",
                "wapens": False,
                "risicotaxatie": "midden",
                "processen_verbaal": ["PV-DEMO-4"],
            },
            "om.strafzaken": {
                "lopende_zaak": True,
                "status": "in behandeling bij parket",
                "contactverbod": False,
                "volgende_zitting": "2026-12-09",
            },
            "reclassering.toezicht": {
                "onder_toezicht": True,
                "bijzondere_voorwaarden": ["meldplicht"],
                "risiconiveau": "midden",
                "toezichthouder": RN_TEAM,
            },
            "woningcorporatie.huur": {
                "huurstatus": "medehuurder",
                "ontruimingsprocedure": False,
                "huurachterstand": 300,
                "overlastmeldingen": 5,
            },
        },
    ),
    # --- ZVH: complex case, GGZ with recorded consent; a child in the household --------------
    Person(
        "zvh.vrouw",
        "999990068",
        "Demo Gerda Visser",
        "1972-12-01",
        {
            "gemeente.brp": {
                "adres": "Monsterkade 9",
                "woonplaats": "Koog aan de Zaan",
                "huishouden": ["ouder", "kind"],
            },
            "gemeente.wijkteam": {
                "actieve_ondersteuning": True,
                "domeinen": ["wmo", "schulden"],
                "contactpersoon": WIJKTEAM,
                "gespreksverslagen": [],
            },
            "ggz.behandeling": {
                "in_behandeling": True,
                "crisiskaart_contact": GGZ_CRISIS,
                "regiebehandelaar": GGZ_TEAM,
                "diagnose": "(geheim)",
                "medicatie": ["(geheim)"],
            },
            "woningcorporatie.huur": {
                "huurstatus": "huurder",
                "ontruimingsprocedure": False,
                "huurachterstand": 0,
                "overlastmeldingen": 1,
            },
        },
    ),
    Person(
        "zvh.zoon",
        "999990081",
        "Demo Hugo Visser",
        "2011-03-15",
        {
            "gemeente.brp": {
                "adres": "Monsterkade 9",
                "woonplaats": "Koog aan de Zaan",
                "huishouden": ["ouder", "kind"],
            },
            "rvdk.onderzoeken": {
                "lopend_onderzoek": False,
                "soort": None,
                "maatregel": None,
                "contactpersoon": RVDK_TEAM,
            },
        },
    ),
    # --- Huisverbod ---------------------------------------------------------------------------
    Person(
        "huisverbod.uithuisgeplaatste",
        "999990093",
        "Demo Ivo Jansen",
        "1990-01-25",
        {
            "gemeente.brp": {
                "adres": "Voorbeeldhof 4",
                "woonplaats": "Wormer",
                "huishouden": ["partner", "kind"],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 2,
                "incidentsoorten": ["huiselijk geweld"],
                "laatste_incident": "2026-11-20",
                "wapens": False,
                "risicotaxatie": "hoog",
                "processen_verbaal": ["PV-DEMO-5"],
            },
            "veilig_thuis.meldingen": {
                "lopende_melding": True,
                "status_veiligheidsbeoordeling": "acuut onveilig",
                "risico": "hoog",
                "kinderen_betrokken": True,
                "contactpersoon": VT_TEAM,
            },
        },
    ),
    # --- A person known to sources but in no case: "nothing about a subject outside the case" -
    Person(
        "buiten.casus",
        "999990111",
        "Demo Jan Buiten",
        "1983-05-05",
        {
            "gemeente.brp": {
                "adres": "Elders 1",
                "woonplaats": "Oostzaan",
                "huishouden": ["alleen"],
            },
            "politie.incidenten": {
                "aantal_incidenten_12m": 1,
                "incidentsoorten": ["overlast"],
                "laatste_incident": "2026-08-08",
                "wapens": False,
                "risicotaxatie": "laag",
                "processen_verbaal": [],
            },
        },
    ),
)
PERSONS_BY_KEY = {p.key: p for p in PERSONS}


@dataclass(frozen=True)
class DemoCase:
    key: str
    purpose: str
    stage: str
    regisseur: str
    participants: tuple[str, ...]
    subjects: tuple[tuple[str, str, bool, tuple[str, ...]], ...]
    """(person key, relation, minor, consents)"""


CASES: tuple[DemoCase, ...] = (
    DemoCase(
        "mda",
        "mda_plus_plus",
        "casusoverleg",
        "zaanstad",
        ("veilig_thuis", "politie", "om", "reclassering", "rvdk"),
        (
            ("mda.moeder", "hoofdpersoon", False, ()),
            ("mda.ex_partner", "ex_partner", False, ()),
            ("mda.kind1", "kind", True, ()),
            ("mda.kind2", "kind", True, ()),
        ),
    ),
    DemoCase(
        "wvggz",
        "wvggz_verkennend_onderzoek",
        "casusoverleg",
        "zaanstad",
        ("ggz", "ggd", "politie"),
        (("wvggz.man", "hoofdpersoon", False, ()),),
    ),
    DemoCase(
        "pga",
        "persoonsgerichte_aanpak",
        "plan",
        "zaanstad",
        ("politie", "om", "reclassering", "woco"),
        (("pga.veelpleger", "hoofdpersoon", False, ()),),
    ),
    DemoCase(
        "zvh",
        "zvh_casusoverleg",
        "casusoverleg",
        "zaanstad",
        ("politie", "om", "rvdk", "reclassering", "veilig_thuis", "ggd", "ggz", "woco"),
        (
            ("zvh.vrouw", "hoofdpersoon", False, ("ggz.behandeling",)),
            ("zvh.zoon", "kind", True, ()),
        ),
    ),
    DemoCase(
        "huisverbod",
        "huisverbod",
        "screening",
        "zaanstad",
        ("politie", "veilig_thuis"),
        (("huisverbod.uithuisgeplaatste", "hoofdpersoon", False, ()),),
    ),
    DemoCase(
        "afgesloten",
        "mda_plus_plus",
        "afgesloten",
        "zaanstad",
        ("veilig_thuis", "politie"),
        (("mda.moeder", "hoofdpersoon", False, ()),),
    ),
)


def source_records(catalog: Catalog, source: str) -> dict[str, dict[str, Any]]:
    """``{bsn: {field: value}}`` for one source; BRP rows take name and birth date from Person."""
    out: dict[str, dict[str, Any]] = {}
    for person in PERSONS:
        rec = person.records.get(source)
        if rec is None:
            continue
        row = dict(rec)
        if source == "gemeente.brp":
            row.update(naam=person.naam, geboortedatum=person.geboortedatum)
        out[person.bsn] = {f: row.get(f) for f in catalog.fields(source)}
    return out


def write_source_databases(catalog: Catalog, url_for: Callable[[str], str]) -> None:
    for source in catalog.sources:
        fields = catalog.fields(source)
        engine = make_engine(url_for(source))
        table = records_table({name: spec.type for name, spec in fields.items()})
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(delete(table))
            rows = [
                {
                    "bsn": bsn,
                    **{f: json.dumps(v) if isinstance(v, list) else v for f, v in rec.items()},
                }
                for bsn, rec in source_records(catalog, source).items()
            ]
            if rows:
                conn.execute(insert(table), rows)
        engine.dispose()


def seed(gw: Gateway, secrets_file: Path | None = None) -> dict[str, str]:
    """Register the demo clients and cases (once) and write the source databases.

    Returns ``{demo case key: case id}``. Client secrets are written to ``secrets_file``
    (mode 0600) the first time so the demo can print them again.
    """
    secrets_doc: dict[str, Any] = {}
    if secrets_file and secrets_file.exists():
        secrets_doc = json.loads(secrets_file.read_text())
    client_secrets: dict[str, str] = secrets_doc.get("clients", {})
    for c in CLIENTS:
        if c.client_id in client_secrets:
            continue
        client_secrets[c.client_id] = new_secret()
        register_client(
            gw.db,
            client_id=c.client_id,
            secret=client_secrets[c.client_id],
            oin=c.oin,
            organisation=c.organisation,
            org_type=c.org_type,
            role=c.role,
            user_ref=c.user_ref,
        )

    case_ids: dict[str, str] = secrets_doc.get("cases", {})
    with Session(gw.db) as session:
        known = set(session.exec(select(CaseRow.id)).all())
    for case in CASES:
        if case_ids.get(case.key) in known:
            continue
        regisseur = next(
            c for c in CLIENTS if c.org == case.regisseur and c.role == "procesregisseur"
        )
        who = regisseur.principal()
        row = gw.cases.create(who, case.purpose, [ORGANISATIONS[o][0] for o in case.participants])
        for person_key, relation, minor, consents in case.subjects:
            gw.cases.link_subject(
                who, row.id, Bsn(PERSONS_BY_KEY[person_key].bsn), relation, minor, consents
            )
        for stage in STAGES[1 : STAGES.index(case.stage) + 1]:
            gw.cases.set_stage(who, row.id, stage)
        case_ids[case.key] = row.id

    write_source_databases(gw.catalog, gw.settings.source_url)
    if secrets_file is not None:
        secrets_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = secrets_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"clients": client_secrets, "cases": case_ids}, fh, indent=2)
        tmp.replace(secrets_file)
    return case_ids
