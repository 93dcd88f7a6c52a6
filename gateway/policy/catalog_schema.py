"""The policy catalogue's schema: typed models for ``policies/catalog/*.yaml`` and the checks
that tie its parts together, run whenever a policy set is loaded — the shipped one and an
instance's own ``HOME/policies`` alike. A catalogue that fails is refused with every problem
listed (a :class:`ConfigurationError`); the gateway does not start on it.

Closed vocabularies: a sensitivity outside ``gewoon``/``bijzonder``/``strafrechtelijk``/
``geheim`` (``Geheim``, a typo) is an error here, and the policy treats any other value as
``geheim`` too (ADR 0009): unknown means never released.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.clock import PERIOD_PATTERN, add_period
from gateway.errors import ConfigurationError
from gateway.typing import STAGES, Transform

Sensitivity = Literal["gewoon", "bijzonder", "strafrechtelijk", "geheim"]
Coverable = Literal["gewoon", "bijzonder", "strafrechtelijk"]
FieldType = Literal["string", "date", "bool", "int", "money", "list", "contact"]


_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Where two periods are compared (their lengths in days depend on where they start)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    label: str
    below: float | None = None


class FieldModel(_Strict):
    sensitivity: Sensitivity
    type: FieldType
    bands: list[Band] = []


class SourceModel(_Strict):
    title: str
    org_type: str
    requires_consent: bool = False
    fields: dict[str, FieldModel] = Field(min_length=1)


class BasisModel(_Strict):
    id: str
    law: str
    title: str
    covers: list[Coverable] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)


class PurposeModel(_Strict):
    title: str
    retention_years: int = Field(ge=1, le=100)
    participants: list[str] = Field(min_length=1)
    regisseur: list[str] = Field(min_length=1)
    scope_includes_children: bool
    sources: list[str] = Field(min_length=1)
    bases: list[BasisModel] = Field(min_length=1)
    break_glass: dict[str, dict[str, Transform]] = {}


class OrgTypeModel(_Strict):
    title: str
    urgency_horizon: str


class RoleModel(_Strict):
    title: str
    org_types: list[str] = Field(min_length=1)


class SignalAreaModel(_Strict):
    title: str
    sensitive: bool
    revealed_to: list[str] = []
    active_for: str = Field(default="P2Y", pattern=PERIOD_PATTERN)
    kept_for: str = Field(default="P5Y", pattern=PERIOD_PATTERN)


class SignalRightModel(_Strict):
    basis: str = Field(min_length=3)
    consent_required: bool = False


class SignalRightsModel(_Strict):
    roles: list[str] = Field(min_length=1)
    signal: dict[str, SignalRightModel] = {}
    match_on: list[str] = []


Matrix = dict[str, dict[str, dict[str, dict[str, dict[str, Transform]]]]]


Reason = Annotated[str, Field(min_length=20, max_length=600)]


class CatalogModel(_Strict):
    org_types: dict[str, OrgTypeModel]
    roles: dict[str, RoleModel]
    sources: dict[str, SourceModel]
    purposes: dict[str, PurposeModel]
    necessity: Matrix
    necessity_reasons: dict[str, dict[str, dict[str, Reason]]]
    """purpose → role → "*" | source | source.field → why the role needs it."""
    signal_areas: dict[str, SignalAreaModel] = {}
    signal_rights: dict[str, SignalRightsModel] = {}


def _cross_checks(c: CatalogModel) -> list[str]:
    from gateway.transforms import COMPATIBLE

    problems: list[str] = []
    for name, role_model in c.roles.items():
        problems += [
            f"roles/{name}: unknown org type {t}"
            for t in role_model.org_types
            if t not in c.org_types
        ]
    for name, source_model in c.sources.items():
        if source_model.org_type not in c.org_types:
            problems.append(f"sources/{name}: unknown org type {source_model.org_type}")
    for pid, p in c.purposes.items():
        where = f"purposes/{pid}"
        problems += [
            f"{where}: unknown org type {t}" for t in p.participants if t not in c.org_types
        ]
        problems += [
            f"{where}: regisseur {t} is not a participant"
            for t in p.regisseur
            if t not in p.participants
        ]
        problems += [f"{where}: unknown source {s}" for s in p.sources if s not in c.sources]
        ids = [b.id for b in p.bases]
        if len(ids) != len(set(ids)):
            problems.append(f"{where}: a basis id is used twice")
        for b in p.bases:
            problems += [
                f"{where}/bases/{b.id}: {s} is not a source of the purpose"
                for s in b.sources
                if s not in p.sources
            ]
            if "strafrechtelijk" in b.covers and b.law not in ("wpg", "wjsg"):
                problems.append(
                    f"{where}/bases/{b.id}: criminal-law data needs a Wpg or Wjsg basis"
                )
        for bg_source, fields in p.break_glass.items():
            spec = c.sources.get(bg_source)
            if spec is None or bg_source not in p.sources:
                problems.append(f"{where}/break_glass: {bg_source} is not a source of the purpose")
                continue
            if not spec.requires_consent:
                problems.append(
                    f"{where}/break_glass/{bg_source}: break-glass only replaces consent"
                )
            for f, transform in fields.items():
                fs = spec.fields.get(f)
                if fs is None or fs.sensitivity != "bijzonder":
                    problems.append(
                        f"{where}/break_glass/{bg_source}/{f}: not a special-category field"
                    )
                elif transform != "contact":
                    problems.append(
                        f"{where}/break_glass/{bg_source}/{f}: the set stays narrow (contact)"
                    )
    problems += _signal_checks(c)
    if set(c.necessity) != set(c.purposes):
        problems.append("necessity: needs exactly one entry per purpose")
    for pid, stages in c.necessity.items():
        if tuple(stages) != STAGES:
            problems.append(f"necessity/{pid}: stages must be {', '.join(STAGES)}, in that order")
        for stage in ("aanmelding", "afgesloten"):
            if stages.get(stage):
                problems.append(f"necessity/{pid}/{stage}: releases nothing, so must be empty")
        purpose_sources = c.purposes[pid].sources if pid in c.purposes else []
        for stage, roles in stages.items():
            for role, sources in roles.items():
                if role not in c.roles:
                    problems.append(f"necessity/{pid}/{stage}/{role}: unknown role")
                for source, fields in sources.items():
                    where = f"necessity/{pid}/{stage}/{role}/{source}"
                    if source not in purpose_sources:
                        problems.append(f"{where}: not a source of the purpose")
                        continue
                    offered = c.sources[source].fields
                    for f, transform in fields.items():
                        cell = offered.get(f)
                        if cell is None:
                            problems.append(f"{where}/{f}: the source does not offer it")
                        elif cell.sensitivity == "geheim":
                            problems.append(f"{where}/{f}: a geheim field in the matrix")
                        elif transform not in COMPATIBLE[cell.type]:
                            problems.append(f"{where}/{f}: {transform} does not fit a {cell.type}")
                        elif transform == "band" and not cell.bands:
                            problems.append(f"{where}/{f}: band without bands")
    return problems


def _signal_checks(c: CatalogModel) -> list[str]:
    problems: list[str] = []
    for area, a in c.signal_areas.items():
        problems += [
            f"signal_areas/{area}: unknown org type {t}"
            for t in a.revealed_to
            if t not in c.org_types
        ]
        if "P" in (a.active_for, a.kept_for) or add_period(_EPOCH, a.active_for) == _EPOCH:
            problems.append(f"signal_areas/{area}: a period must be at least a day")
        elif add_period(_EPOCH, a.kept_for) < add_period(_EPOCH, a.active_for):
            problems.append(f"signal_areas/{area}: kept_for is shorter than active_for")
    for org_type, r in c.signal_rights.items():
        where = f"signal_rights/{org_type}"
        if org_type not in c.org_types:
            problems.append(f"{where}: unknown org type")
        for role in r.roles:
            if org_type not in (c.roles[role].org_types if role in c.roles else []):
                problems.append(f"{where}: {role} is not a role of this org type")
        problems += [
            f"{where}/signal/{a}: unknown area" for a in r.signal if a not in c.signal_areas
        ]
        problems += [
            f"{where}/match_on/{a}: unknown area" for a in r.match_on if a not in c.signal_areas
        ]
    return problems


def _reason_checks(c: CatalogModel) -> list[str]:
    """Every cell of the matrix has a necessity reason; no reason names what no cell has."""
    problems: list[str] = []
    cells: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for pid, stages in c.necessity.items():
        for roles in stages.values():
            for role, sources in roles.items():
                for source, fields in sources.items():
                    cells.setdefault((pid, role), set()).update((source, f) for f in fields)
    for (pid, role), held in sorted(cells.items()):
        given = c.necessity_reasons.get(pid, {}).get(role, {})
        for source, f in sorted(held):
            if not ({"*", source, f"{source}.{f}"} & set(given)):
                problems.append(f"necessity_reasons/{pid}/{role}: no reason for {source}.{f}")
    for pid, reasons in c.necessity_reasons.items():
        for role, keys in reasons.items():
            cells_held = cells.get((pid, role))
            if cells_held is None:
                problems.append(f"necessity_reasons/{pid}/{role}: the role has no row")
                continue
            in_rows = {s for s, _ in cells_held}
            for key in keys:
                named = tuple(key.rsplit(".", 1))
                if key != "*" and key not in in_rows and named not in cells_held:
                    problems.append(f"necessity_reasons/{pid}/{role}/{key}: no such cell")
    return problems


def validate_catalog(doc: Mapping[str, Any], where: str) -> CatalogModel:
    try:
        model = CatalogModel.model_validate(dict(doc))
    except ValidationError as exc:
        problems = [f"{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:50]]
        raise ConfigurationError(_message(where, problems)) from None
    problems = _cross_checks(model) + _reason_checks(model)
    if problems:
        raise ConfigurationError(_message(where, problems))
    return model


def _message(where: str, problems: list[str]) -> str:
    shown = problems[:20]
    more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
    return f"the policy catalogue in {where} is not valid: " + "; ".join(shown) + more
