// Writes the golden files of the format conversion from the pinned official
// packages: `node compat/formats/generate.mjs` (after `npm ci --prefix compat`).
//
// For cases that start as `aui/v0` the expected `ai-sdk/v6` is threadhold's
// own conversion, blessed by `THREADHOLD_BLESS=1 cargo test -p threadhold-domain
// --test format_golden` and checked against the AI SDK runtime's decoder by
// compat/test/formats.test.mjs; this script keeps it when it rewrites a file.

import { readFile, writeFile, readdir, rm } from "node:fs/promises";
import path from "node:path";
import { buildCases, GOLDEN_DIR } from "./cases.mjs";

const cases = buildCases();
const names = new Set(cases.map((c) => `${c.name}.json`));
for (const file of await readdir(GOLDEN_DIR)) {
  if (file.endsWith(".json") && !names.has(file)) await rm(path.join(GOLDEN_DIR, file));
}
for (const { name, ...golden } of cases) {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  if (golden.origin === "aui/v0") {
    const previous = await readFile(file, "utf8").then(JSON.parse, () => ({}));
    if (previous["ai-sdk/v6"] !== undefined) golden["ai-sdk/v6"] = previous["ai-sdk/v6"];
  }
  await writeFile(file, `${JSON.stringify(golden, null, 2)}\n`);
}
console.log(`wrote ${cases.length} golden files to ${GOLDEN_DIR}`);
