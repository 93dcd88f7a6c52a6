"""Proof certificates kept per policy version: ``gateway policy prove --save`` writes one to
``HOME/certificates/``, the privacy officers' console shows it beside the version's
activations. A certificate is evidence the officers produced, not something the gateway
enforces: the gateway serves a signed bundle whether or not one was saved."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from gateway.files import write_private
from gateway.settings import Settings

_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def directory(settings: Settings) -> Path:
    return settings.home / "certificates"


def path_for(settings: Settings, version: str) -> Path:
    return directory(settings) / (_SAFE.sub("-", version) + ".json")


def save(settings: Settings, certificate: dict[str, Any]) -> Path:
    target = path_for(settings, str(certificate["policy_version"]))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_private(target, json.dumps(certificate, indent=2, ensure_ascii=False).encode())
    return target


def load(settings: Settings, version: str) -> dict[str, Any] | None:
    """The saved certificate of ``version``, or None (none saved, or not one for it)."""
    target = path_for(settings, version)
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("policy_version") != version:
        return None
    return doc
