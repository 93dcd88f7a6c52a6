"""YAML in: the safe subset only, through libyaml where PyYAML was built with it.

The policy catalogue and the demo region are YAML, parsed at every start-up, reload, policy
command and test gateway; libyaml reads the catalogue ~7x faster than the pure-Python loader
and gives the same documents (both are YAML 1.1 safe loaders).
"""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """Parse ``text``; raises ``yaml.YAMLError`` as ``yaml.safe_load`` does."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
