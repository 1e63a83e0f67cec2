// The hand-written declarations (src/index.d.ts) compile and describe the
// API as a TypeScript user calls it (test/types/usage.ts, strict mode).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

test("index.d.ts type-checks against a strict usage sample", () => {
  // typescript exports no bin subpath: find bin/tsc beside its lib/.
  const tsc = join(dirname(createRequire(import.meta.url).resolve("typescript")), "../bin/tsc");
  try {
    execFileSync(process.execPath, [tsc, "-p", join(here, "types/tsconfig.json")], { encoding: "utf8" });
  } catch (err) {
    assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
  }
});
