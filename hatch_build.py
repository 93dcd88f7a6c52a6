"""Builds the one compiled part, the ledger verifier's fast path (docs/adr/0018), at install.

``gateway/ledger/_spanscan.c`` is compiled against the system's SQLite and OpenSSL (the same
libraries Python's own ``sqlite3`` and ``hashlib`` load). It is an accelerator, never a
requirement: where no compiler or header is at hand the build says so and goes on, and
verification takes the pure-Python path, which gives the same verdicts (a test holds the two
together). Set ``GATEWAY_BUILD_SPANSCAN=0`` to skip it, ``=1`` to make a failure stop the build.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("gateway/ledger/_spanscan.c")


class SpanScanHook(BuildHookInterface):  # type: ignore[misc]  # hatchling: untyped
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        wanted = os.environ.get("GATEWAY_BUILD_SPANSCAN", "auto")
        if wanted == "0" or self.target_name != "wheel":
            return
        root = Path(self.root)
        target = SOURCE.with_name("_spanscan" + sysconfig.get_config_var("EXT_SUFFIX"))
        command = [
            *shlex.split(sysconfig.get_config_var("CC") or "cc"),
            "-shared",
            "-fPIC",
            "-O2",
            "-Wall",
            "-I",
            sysconfig.get_paths()["include"],
            str(root / SOURCE),
            "-o",
            str(root / target),
            "-lsqlite3",
            "-lcrypto",
        ]
        # A build that fails leaves no older build behind to be imported in its place.
        (root / target).unlink(missing_ok=True)
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
            failure = done.stderr if done.returncode != 0 else None
        except OSError as exc:  # no compiler at all
            failure = f"{command[0]}: {exc.strerror}\n"
        if failure is not None:
            message = f"the ledger verifier's compiled path was not built:\n{failure}"
            if wanted == "1":
                raise RuntimeError(message)
            print(message + "verification takes the pure-Python path.", file=sys.stderr)
            return
        if version != "editable":  # an editable install imports it from the source tree
            build_data["force_include"][str(root / target)] = str(target)
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
