// Start a real Arena server (python -m arena serve) for the tests, on a port
// the OS picks, with a temporary store, a faucet and fast roast timers (as
// tests/conftest.py FAST_ROAST). The Python is $ARENA_PYTHON, else the
// repository's .venv when it exists, else python3.

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../../..");

export function pythonPath() {
  if (process.env.ARENA_PYTHON) return process.env.ARENA_PYTHON;
  const venv = join(repo, ".venv/bin/python");
  return existsSync(venv) ? venv : "python3";
}

const FAST_ROAST = `
countdown_ms = 100
time_limit_ms = 3000
entry_deadline_ms = 5000
disconnect_grace_ms = 1500
scoring_timeout_ms = 5000
prompt_timeout_ms = 5000
`;

function writeConfig(dir, port, extra) {
  const config = join(dir, "config.toml");
  writeFileSync(config, `
[server]
host = "127.0.0.1"
port = ${port}
[engine]
seed = 7
[store]
path = "${join(dir, "arena.sqlite")}"
[media]
path = "${join(dir, "media")}"
[ledger]
faucet_amount = 10000
[roast]
${FAST_ROAST}
${extra}
`);
  return config;
}

/** Spawn `arena serve`; resolves with {proc, port, output()} once it listens. */
function launch(config, timeoutMs) {
  const proc = spawn(pythonPath(), ["-m", "arena", "serve", "--config", config, "--log-level", "INFO"], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
  });
  // Never outlive the test process, even when it dies without its after() hooks.
  const killOnExit = () => proc.exitCode === null && proc.kill("SIGKILL");
  process.once("exit", killOnExit);
  proc.once("exit", () => process.off("exit", killOnExit));
  let output = "";
  const port = new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const scan = (chunk) => {
      output += chunk;
      // The JSON log line {"msg": "listening", ..., "port": N} names the port the OS gave.
      for (const line of output.split("\n")) {
        if (!line.includes('"listening"')) continue;
        try {
          const rec = JSON.parse(line);
          if (rec.msg === "listening" && rec.port) {
            clearTimeout(timer);
            resolvePort(rec.port);
            return;
          }
        } catch {
          // a partial line: wait for more
        }
      }
    };
    proc.stdout.on("data", (d) => scan(d.toString()));
    proc.stderr.on("data", (d) => scan(d.toString()));
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening:\n${output}`));
    });
  });
  return port.then((p) => ({ proc, port: p, output: () => output }));
}

async function halt(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGINT");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/**
 * Start a server; resolves with {url, port, stop(), restart(), createKey(), log()}
 * once it listens. `extra`: more TOML appended to the config (new sections).
 */
export async function startServer({ extra = "", timeoutMs = 30_000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "arena-js-"));
  let config = writeConfig(dir, 0, extra);
  let run = await launch(config, timeoutMs);
  const port = run.port;
  config = writeConfig(dir, port, extra); // a restart listens on the same port
  return {
    port,
    url: `ws://127.0.0.1:${port}/v1`,
    log: () => run.output(),
    /** `python -m arena keys create` on this server's store: the new API key. */
    createKey(role, name) {
      return execFileSync(pythonPath(), ["-m", "arena", "keys", "create", "--config", config, "--role", role, "--name", name],
        { cwd: repo, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
    },
    /** Stop the process (SIGINT) and start a new one on the same store and port;
     * `whileDown` runs in between. */
    async restart(whileDown = async () => {}) {
      await halt(run.proc);
      await whileDown();
      run = await launch(config, timeoutMs);
    },
    async stop() {
      await halt(run.proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
