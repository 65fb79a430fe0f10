/**
 * Cost of one append and one `msg(3)` read on log/messages.jsonl against the way akachat did
 * both before (read and parse the whole file, then rewrite it atomically / take the last 3), on
 * logs of several sizes, interleaved round by round on the same file.
 *
 * Usage: npx tsx bench/messages.bench.ts [--rounds 5] [--sizes 1,10,50]  (sizes in MB)
 */
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/data/atomic.js';
import { MessageLog, parseMessagesJsonl } from '../src/messages/log.js';
import { medianInterval, quantile } from './stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, sizes: { type: 'string', default: '1,10,50' } } });
const ROUNDS = Number(args.rounds);
const SIZES = args.sizes.split(',').map(Number);

const folder = await mkdtemp(join(tmpdir(), 'akachat-bench-messages-'));
const file = join(folder, 'messages.jsonl');
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const line = (i: number) => JSON.stringify({ role: i % 2 ? 'assistant' : 'user', content: `${i}: ${'あかちゃん '.repeat(60)}` }) + '\n';

/** The previous implementation: the whole file read, parsed and written again. */
async function appendByRewrite(text: string): Promise<void> {
  const existing = await readFile(file, 'utf8');
  parseMessagesJsonl(existing, file);
  await writeFileAtomic(file, existing + text);
}

async function tailByReadAll(): Promise<unknown> {
  return parseMessagesJsonl(await readFile(file, 'utf8'), file).slice(-3);
}

function report(what: string, reference: number[], current: number[]): void {
  const [lo, hi] = medianInterval(reference.map((r, i) => r / current[i]!));
  console.log(`  ${what}: before median ${fmt(quantile(reference, 0.5))} (p10 ${fmt(quantile(reference, 0.1))}, p90 ${fmt(quantile(reference, 0.9))}); ` +
    `now median ${fmt(quantile(current, 0.5))} (p10 ${fmt(quantile(current, 0.1))}, p90 ${fmt(quantile(current, 0.9))}); ` +
    `ratio ${(quantile(reference, 0.5) / quantile(current, 0.5)).toFixed(0)}x [95% of per-round ratios' median ${lo.toFixed(0)}x .. ${hi.toFixed(0)}x]`);
}

try {
  for (const megabytes of SIZES) {
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < megabytes * 1024 * 1024; i++) {
      lines.push(line(i));
      size += Buffer.byteLength(lines.at(-1)!);
    }
    await writeFile(file, lines.join(''));
    const handle = await open(file, 'r+');
    await handle.sync();
    await handle.close();
    const log = new MessageLog(file);
    await log.count(); // the one full scan, before timing
    const times = { appendBefore: [] as number[], appendNow: [] as number[], tailBefore: [] as number[], tailNow: [] as number[] };
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 ? ['now', 'before'] : ['before', 'now'];
      for (const side of order) {
        let t0 = performance.now();
        if (side === 'now') await log.append({ role: 'user', content: `round ${r}` });
        else await appendByRewrite(`{"role":"user","content":"round ${r}"}\n`);
        (side === 'now' ? times.appendNow : times.appendBefore).push(performance.now() - t0);
        t0 = performance.now();
        if (side === 'now') await log.newest(3);
        else await tailByReadAll();
        (side === 'now' ? times.tailNow : times.tailBefore).push(performance.now() - t0);
      }
    }
    console.log(`${(size / 1e6).toFixed(1)} MB, ${lines.length} messages, ${ROUNDS} rounds:`);
    report('append', times.appendBefore, times.appendNow);
    report('msg(3)', times.tailBefore, times.tailNow);
  }
} finally {
  await rm(folder, { recursive: true, force: true });
}
