// Times the official @flue/sdk 1.0.0-beta.5 `client.runs.events()` on one run.
//
// Run with the Node 22 that tools/flue_servers provisions, from any directory:
//   node benchmarks/ts_events.mjs <app_dir> <base_url> <token> <run_id> <repeats>
// The SDK is resolved from <app_dir>/node_modules (tests/interop/app, where it is a dependency).
// Prints one JSON line: {"sdk_version", "node", "events", "seconds": [...]} (one warm-up first).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [appDir, baseUrl, token, runId, repeatsArg] = process.argv.slice(2);
const repeats = Number(repeatsArg ?? '5');
const pkgDir = join(appDir, 'node_modules', '@flue', 'sdk');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const exp = pkg.exports?.['.'] ?? pkg.exports;
const rel = typeof exp === 'string' ? exp : (exp?.import?.default ?? exp?.import ?? exp?.default ?? pkg.module ?? pkg.main);
const entry = join(pkgDir, typeof rel === 'string' ? rel : 'dist/index.mjs');
const { createFlueClient } = await import(pathToFileURL(entry).href);

const client = createFlueClient({ baseUrl, token });
let count = (await client.runs.events(runId)).length; // warm-up (JIT, connection)
const seconds = [];
for (let i = 0; i < repeats; i++) {
  const started = performance.now();
  const events = await client.runs.events(runId);
  seconds.push((performance.now() - started) / 1000);
  count = events.length;
}
console.log(JSON.stringify({ sdk_version: pkg.version, node: process.version, events: count, seconds }));
