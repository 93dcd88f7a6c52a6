"""A typed view of ``data/region.yaml``: organisations, clients, persons and cases.

The loader checks the file against the rules every other part relies on (OINs, BSNs, relations,
stages and cross-references), so a broken edit fails at start-up with the key that is wrong,
never as a half-seeded demo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from gateway.auth.principal import Principal
from gateway.errors import ConfigurationError
from gateway.identifiers import elfproef, is_oin
from gateway.typing import RELATIONS, STAGES, ClientId, Oin, Relation, Stage
from gateway.yamlload import load_yaml

REGION_FILE = Path(__file__).resolve().parent / "data" / "region.yaml"


@dataclass(frozen=True)
class Organisation:
    key: str
    oin: Oin
    org_type: str
    name: str


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    organisation: Organisation
    role: str
    user_ref: str

    @property
    def oin(self) -> Oin:
        return self.organisation.oin

    @property
    def org_type(self) -> str:
        return self.organisation.org_type

    def principal(self) -> Principal:
        return Principal(
            ClientId(self.client_id), self.oin, self.org_type, self.role, self.user_ref
        )


@dataclass(frozen=True)
class Person:
    key: str
    label: str
    bsn: str
    naam: str
    geboortedatum: str
    records: Mapping[str, Mapping[str, Any]]
    """Per source: the person's record, with team references resolved to contact lines."""


@dataclass(frozen=True)
class Link:
    person: Person
    relation: Relation
    minor: bool
    consents: tuple[str, ...] = ()


@dataclass(frozen=True)
class DemoCase:
    key: str
    purpose: str
    stage: Stage
    regisseur: Organisation
    participants: tuple[Organisation, ...]
    subjects: tuple[Link, ...]


@dataclass(frozen=True)
class Region:
    organisations: Mapping[str, Organisation]
    clients: Mapping[str, DemoClient]
    persons: Mapping[str, Person]
    cases: Mapping[str, DemoCase]

    def regisseur_client(self, case: DemoCase) -> DemoClient:
        return next(
            c
            for c in self.clients.values()
            if c.organisation == case.regisseur and c.role == "procesregisseur"
        )

    def cases_of(self, person: Person) -> list[DemoCase]:
        return [c for c in self.cases.values() if any(s.person == person for s in c.subjects)]


class _Reader:
    """Reads one mapping and names the YAML path of whatever is wrong."""

    def __init__(self, doc: Mapping[str, Any], where: str) -> None:
        if not isinstance(doc, Mapping):
            raise ConfigurationError(f"{where}: expected a mapping")
        self.doc, self.where = doc, where

    def get(self, key: str, kind: type | tuple[type, ...] = str) -> Any:
        value = self.doc.get(key)
        if not isinstance(value, kind):
            raise ConfigurationError(f"{self.where}.{key}: missing or of the wrong type")
        return value

    def pick(self, key: str, table: Mapping[str, Any]) -> Any:
        name = self.get(key)
        if name not in table:
            raise ConfigurationError(f"{self.where}.{key}: unknown {key} {name!r}")
        return table[name]


def load_region(path: Path = REGION_FILE) -> Region:
    doc = _Reader(load_yaml(path.read_text(encoding="utf-8")), path.name)
    teams = {str(k): str(v) for k, v in doc.get("teams", dict).items()}

    orgs: dict[str, Organisation] = {}
    for key, raw in doc.get("organisations", dict).items():
        r = _Reader(raw, f"organisations.{key}")
        if not is_oin(r.get("oin")):
            raise ConfigurationError(f"organisations.{key}.oin: not an OIN")
        orgs[key] = Organisation(key, Oin(r.get("oin")), r.get("type"), r.get("name"))

    clients = {}
    for cid, raw in doc.get("clients", dict).items():
        r = _Reader(raw, f"clients.{cid}")
        clients[cid] = DemoClient(cid, r.pick("org", orgs), r.get("role"), r.get("user"))

    def resolve(value: Any) -> Any:
        if isinstance(value, Mapping) and set(value) == {"team"}:
            return teams[value["team"]]
        return value

    persons = {}
    for key, raw in doc.get("persons", dict).items():
        r = _Reader(raw, f"persons.{key}")
        if not elfproef(r.get("bsn")):
            raise ConfigurationError(f"persons.{key}.bsn: not a valid BSN")
        records = {
            str(source): {str(f): resolve(v) for f, v in _Reader(rec, source).doc.items()}
            for source, rec in r.get("records", dict).items()
        }
        persons[key] = Person(
            key, r.get("label"), r.get("bsn"), r.get("naam"), r.get("geboortedatum"), records
        )

    cases = {}
    for key, raw in doc.get("cases", dict).items():
        r = _Reader(raw, f"cases.{key}")
        stage = r.get("stage")
        if stage not in STAGES:
            raise ConfigurationError(f"cases.{key}.stage: not a stage")
        links = []
        for i, s in enumerate(r.get("subjects", list)):
            sr = _Reader(s, f"cases.{key}.subjects[{i}]")
            if sr.get("relation") not in RELATIONS:
                raise ConfigurationError(f"{sr.where}.relation: not a relation")
            links.append(
                Link(
                    sr.pick("person", persons),
                    cast(Relation, sr.get("relation")),
                    sr.get("minor", bool),
                    tuple(s.get("consents", ())),
                )
            )
        cases[key] = DemoCase(
            key,
            r.get("purpose"),
            cast(Stage, stage),
            r.pick("regisseur", orgs),
            tuple(
                _Reader({"org": o}, f"cases.{key}.participants").pick("org", orgs)
                for o in r.get("participants", list)
            ),
            tuple(links),
        )
    return Region(orgs, clients, persons, cases)


@cache
def region() -> Region:
    """The shipped demo region, loaded once."""
    return load_region()
