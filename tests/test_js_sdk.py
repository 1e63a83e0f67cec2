"""The JavaScript SDK (clients/js): install its npm dependencies and run its
own test suite (`npm test`), which starts real servers with this Python.

Skipped with the reason when `node`/`npm` are missing or Node is older than
20, unless `ARENA_REQUIRE_JS=1` (then those fail the test instead).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from node_tools import node_and_npm

JS_DIR = Path(__file__).resolve().parent.parent / "clients" / "js"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _tools() -> tuple[str, str]:
    return node_and_npm("the JavaScript SDK tests")


def _run(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=timeout)


def test_js_sdk_suite():
    _node, npm = _tools()
    env = {**os.environ, "ARENA_PYTHON": sys.executable}
    # npm ci installs exactly the committed lockfile (npm install only without one).
    install = [npm, "ci"] if (JS_DIR / "package-lock.json").exists() else [npm, "install"]
    done = _run(install + ["--no-audit", "--no-fund"], env, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(install)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}", pytrace=False)
    done = _run([npm, "test"], env, timeout=500)
    summary = "\n".join(line for line in done.stdout.splitlines() if line.startswith("# "))
    assert done.returncode == 0, f"npm test failed:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    assert re.search(r"^# fail 0$", summary, re.M), summary
    assert re.search(r"^# pass [1-9]\d*$", summary, re.M), summary


def test_the_bundle_the_server_serves_is_built_from_these_sources(tmp_path):
    """arena/web/static/arena-client.js (what the web pages import) is the
    SDK bundled by `npm run build:web`: rebuilt here, it must come out byte
    for byte the same, so a change to the SDK without a rebuild fails."""
    _node, npm = _tools()
    env = dict(os.environ)
    if not (JS_DIR / "node_modules" / "esbuild").exists():
        done = _run([npm, "ci", "--no-audit", "--no-fund"], env, timeout=300)
        assert done.returncode == 0, done.stderr[-4000:]
    script = json.loads((JS_DIR / "package.json").read_text())["scripts"]["build:web"]
    served = (JS_DIR / ".." / ".." / "arena" / "web" / "static" / "arena-client.js").resolve()
    out = tmp_path / "arena-client.js"
    args = [a for a in script.split()[1:] if not a.startswith("--outfile=")] + [f"--outfile={out}"]
    done = _run([npm, "exec", "--", "esbuild", *args], env, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert out.read_bytes() == served.read_bytes(), (
        "arena/web/static/arena-client.js is stale: run `npm run build:web` in clients/js")
