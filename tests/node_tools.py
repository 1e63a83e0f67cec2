"""Node.js and npm for the tests that run JavaScript (the SDK's suite, the
Colyseus comparison).

`node_and_npm(needs)` returns their paths, and otherwise skips the test with
the reason, or fails it when `ARENA_REQUIRE_JS=1` (as `.ci/run` sets: Node
and the npm registry are on the CI machine, so their absence is a broken
machine, not a reason to pass).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

REQUIRE_JS = os.environ.get("ARENA_REQUIRE_JS") == "1"
MIN_NODE = 20


def missing(why: str) -> None:
    """Skip with `why`, or fail under ARENA_REQUIRE_JS=1."""
    if REQUIRE_JS:
        pytest.fail(f"ARENA_REQUIRE_JS=1 but {why}", pytrace=False)
    pytest.skip(why)


def node_and_npm(needs: str) -> tuple[str, str]:
    """(node, npm) on PATH, Node at least MIN_NODE; `needs` names what needs
    them in the reason given when they are missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing(f"{needs} need node and npm on PATH")
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    m = re.match(r"v(\d+)\.", out)
    if m is None or int(m.group(1)) < MIN_NODE:
        missing(f"{needs} need Node {MIN_NODE}+, found {out or 'unknown'}")
    return node, npm
