"""Read-only, typed access to the policy catalogue (policies/catalog/*.yaml) for Python code.

The policy decides; Python uses the catalogue only to know what exists — which sources a
purpose has, what a field's type and sensitivity are — and as a second line of defence: a
`geheim` or unknown field is dropped even if an engine granted it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.typing import FieldName, SourceId


@dataclass(frozen=True)
class FieldSpec:
    name: FieldName
    sensitivity: str
    type: str
    bands: tuple[Mapping[str, Any], ...] = ()


class Catalog:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.purposes: Mapping[str, Mapping[str, Any]] = doc.get("purposes", {})
        self.roles: Mapping[str, Mapping[str, Any]] = doc.get("roles", {})
        self.org_types: Mapping[str, Mapping[str, Any]] = doc.get("org_types", {})
        self._sources: Mapping[str, Mapping[str, Any]] = doc.get("sources", {})
        self._necessity: Mapping[str, Any] = doc.get("necessity", {})
        self._reasons: Mapping[str, Any] = doc.get("necessity_reasons", {})
        self.signal_areas: Mapping[str, Mapping[str, Any]] = doc.get("signal_areas", {})
        # Built once: the disclosure path asks for field specs on every request.
        self._fields = {source: _field_specs(spec) for source, spec in self._sources.items()}

    @property
    def sources(self) -> list[SourceId]:
        return [SourceId(s) for s in self._sources]

    def purpose_sources(self, purpose: str) -> list[SourceId]:
        return [SourceId(s) for s in self.purposes.get(purpose, {}).get("sources", [])]

    def regisseur_types(self, purpose: str) -> list[str]:
        return list(self.purposes.get(purpose, {}).get("regisseur", []))

    def fields(self, source: str) -> Mapping[FieldName, FieldSpec]:
        return self._fields.get(source, {})

    def releasable(self, source: str, field: str) -> bool:
        spec = self.fields(source).get(FieldName(field))
        return spec is not None and spec.sensitivity != "geheim"

    def requires_consent(self, source: str) -> bool:
        return bool(self._sources.get(source, {}).get("requires_consent", False))

    def necessity_reason(self, purpose: str, role: str, source: str, field: str) -> str | None:
        """Why ``role`` needs ``field`` of ``source`` in ``purpose``: the most specific reason
        given (the field, else the source, else the role's "*")."""
        given = self._reasons.get(purpose, {}).get(role, {})
        for key in (f"{source}.{field}", source, "*"):
            if key in given:
                return str(given[key])
        return None

    def necessity(self, purpose: str, stage: str, role: str) -> dict[str, dict[str, str]]:
        """The matrix row for (purpose, stage, role), limited to the purpose's sources."""
        row = self._necessity.get(purpose, {}).get(stage, {}).get(role, {})
        allowed = set(self.purpose_sources(purpose))
        return {s: dict(f) for s, f in row.items() if s in allowed}


def _field_specs(source: Mapping[str, Any]) -> Mapping[FieldName, FieldSpec]:
    # NOTE: a field without a sensitivity is treated as geheim: unknown means "never leaves".
    return {
        FieldName(name): FieldSpec(
            name=FieldName(name),
            sensitivity=str(spec.get("sensitivity", "geheim")),
            type=str(spec.get("type", "string")),
            bands=tuple(spec.get("bands", ())),
        )
        for name, spec in source.get("fields", {}).items()
    }
