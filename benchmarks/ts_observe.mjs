// Observes one conversation with the official @flue/sdk 2.x `observe()` until a reply settles;
// the TypeScript side of benchmarks/observe.py (one fresh Node process per reply observed).
//
// Run with the Node 22 that tools/flue_servers provisions:
//   node benchmarks/ts_observe.mjs <app_dir> <conversation_url> <token> <last_text>
// The SDK is resolved from <app_dir>/node_modules (the v2_0_3 interop app, where it is a
// dependency). Prints "ready" once the observation is live (its history read), then one JSON
// line when the conversation holds a new settlement: {"sdk_version", "node", "chunks",
// "cpu_s", "t_last_ns", "ok"}. `chunks`: snapshots with a new conversation state published
// after "ready"; `cpu_s`: process.cpuUsage() (user + system, every thread) over the same span;
// `t_last_ns`: process.hrtime.bigint() (CLOCK_MONOTONIC, as Python's time.monotonic_ns()) when
// the state first showed a last text part ending with <last_text>. Each state is looked at as a
// UI would: its last message's last part.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [appDir, url, token, lastText] = process.argv.slice(2);
const pkgDir = join(appDir, 'node_modules', '@flue', 'sdk');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
const exp = pkg.exports?.['.'] ?? pkg.exports;
const rel = typeof exp === 'string' ? exp : (exp?.import?.default ?? exp?.import ?? exp?.default ?? pkg.module ?? pkg.main);
const entry = join(pkgDir, typeof rel === 'string' ? rel : 'dist/index.mjs');
const { createFlueClient } = await import(pathToFileURL(entry).href);

const client = createFlueClient({ url, token });
const observation = client.observe({ live: 'sse' });
let ready = false;
let settledBefore = 0;
let previous;
let chunks = 0;
let cpuStart;
let tLast = 0n;
const finished = new Promise((resolve) => {
  observation.subscribe(() => {
    const snapshot = observation.getSnapshot();
    const conversation = snapshot.conversation;
    if (!ready) {
      if (snapshot.phase === 'live' && conversation !== undefined) {
        ready = true;
        previous = conversation;
        settledBefore = conversation.settlements.length;
        cpuStart = process.cpuUsage();
        process.stdout.write('ready\n');
      }
      return;
    }
    if (conversation === undefined || conversation === previous) return;
    previous = conversation;
    chunks++;
    const last = conversation.messages.at(-1);
    const part = last?.parts.at(-1);
    if (tLast === 0n && part?.type === 'text' && part.text.endsWith(lastText)) {
      tLast = process.hrtime.bigint();
    }
    if (conversation.settlements.length > settledBefore) resolve();
  });
});
const timeout = setTimeout(() => {
  console.error('ts_observe: no settlement within 300 s');
  process.exit(2);
}, 300_000);
await finished;
const cpu = process.cpuUsage(cpuStart);
clearTimeout(timeout);
observation.close();
console.log(
  JSON.stringify({
    sdk_version: pkg.version,
    node: process.version,
    chunks,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    t_last_ns: tLast.toString(),
    ok: tLast !== 0n,
  }),
);
process.exit(0);
