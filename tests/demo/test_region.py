"""The demo region as data: the shipped file loads, and a broken edit names what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.catalog import Catalog
from gateway.demo.region import REGION_FILE, load_region
from gateway.errors import ConfigurationError
from gateway.identifiers import elfproef
from gateway.policy.bundle import load_policy_set
from gateway.settings import bundled_policy_dir


def test_the_shipped_region_is_consistent_with_the_catalogue() -> None:
    region = load_region()
    catalog = Catalog(load_policy_set(bundled_policy_dir()).catalog)
    assert len(region.clients) == 11 and len(region.cases) == 6
    assert all(elfproef(p.bsn) and p.naam.startswith("Demo ") for p in region.persons.values())
    assert all(o.oin.startswith("00000099") for o in region.organisations.values())
    for person in region.persons.values():
        for source, record in person.records.items():
            assert set(record) <= set(catalog.fields(source)), (person.key, source)
    for case in region.cases.values():
        assert case.purpose in catalog.purposes
        for link in case.subjects:
            assert set(link.consents) <= set(catalog.sources)
    # Team references are resolved to contact lines.
    assert "tel." in region.persons["wvggz.man"].records["ggz.behandeling"]["crisiskaart_contact"]


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("persons", "mda.moeder", "bsn"), "123456789", "persons.mda.moeder.bsn"),
        (("organisations", "om", "oin"), "123", "organisations.om.oin"),
        (("cases", "mda", "regisseur"), "nobody", "cases.mda.regisseur"),
        (("clients", "om-officier", "org"), "nobody", "clients.om-officier.org"),
    ],
)
def test_a_broken_edit_is_named(
    tmp_path: Path, path: tuple[str, ...], value: str, named: str
) -> None:
    doc = yaml.safe_load(REGION_FILE.read_text())
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    broken = tmp_path / "region.yaml"
    broken.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigurationError) as info:
        load_region(broken)
    assert named in str(info.value)
    assert value not in str(info.value) or value == "nobody"
