"""Helpers of the browser tests: a real Arena server in its own process, a
headless Chromium driven by Playwright, and the Python client beside them
to check what the server holds.

The browser is Debian's `chromium` (or `$ARENA_CHROMIUM`), never a browser
that Playwright downloads. Without it (or without the `playwright`
package) the tests skip with the reason, unless `ARENA_REQUIRE_BROWSER=1`,
under which that is a failure (CI installs the browser in .ci/run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.benchkit.serverproc import free_port

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_BROWSER = os.environ.get("ARENA_REQUIRE_BROWSER") == "1"
# Screenshots the tests take (gitignored): `ARENA_SCREENSHOTS` or var/screenshots.
SCREENSHOTS = Path(os.environ.get("ARENA_SCREENSHOTS") or ROOT / "var" / "screenshots")


def missing(why: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"ARENA_REQUIRE_BROWSER=1 but {why}", pytrace=False)
    pytest.skip(why)


def chromium_path() -> str | None:
    given = os.environ.get("ARENA_CHROMIUM")
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def launch_browser():
    """A headless Chromium (the system's), closed at the end."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the browser tests need the playwright package (pip install -e '.[dev]')")
    path = chromium_path()
    if path is None:
        missing("no Chromium on this machine (apt-get install chromium; or set ARENA_CHROMIUM)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, headless=True,
            # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


class ServerProcess:
    """`python -m arena serve` on a free port with a throw-away store, a
    faucet, and the given extra config (TOML text)."""

    def __init__(self, workdir: Path, extra: str = "", serve_args: tuple[str, ...] = ()):
        self.workdir = workdir
        self.serve_args = serve_args  # more `arena serve` options (e.g. --demo)
        self.port = free_port()
        self.config = workdir / "config.toml"
        self.config.write_text(f"""
[server]
host = "127.0.0.1"
port = {self.port}
[engine]
seed = 7
[store]
path = "{workdir / 'arena.sqlite'}"
[media]
path = "{workdir / 'media'}"
[ledger]
faucet_amount = 10000
{extra}
""")
        self.proc: subprocess.Popen | None = None
        self.log = workdir / "server.log"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def arena(self, *args: str) -> str:
        """Run an `arena` command on this server's config; its stdout."""
        done = subprocess.run([sys.executable, "-m", "arena", *args, "--config", str(self.config)],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "arena", "serve", "--config", str(self.config), "--log-level", "INFO",
                 *self.serve_args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server did not listen within {timeout} s:\n{self.log_tail()}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@contextlib.contextmanager
def running_server(workdir: Path, extra: str = ""):
    server = ServerProcess(workdir, extra)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def console_errors(page) -> list[str]:
    """Collect the page's uncaught errors and console errors from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: msg.type == "error" and errors.append(f"console: {msg.text}"))
    return errors
