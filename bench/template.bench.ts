/**
 * Cost of rendering chat templates in the template worker process (src/engine/template-sandbox.ts)
 * against rendering the same Jinja in this process, as akachat did before: the same template,
 * messages and parse cache, interleaved round by round. Also the worker's cold start (spawn,
 * addon load, first render).
 *
 * Usage: npx tsx bench/template.bench.ts [--rounds 300]
 */
import { parseArgs } from 'node:util';
import { loadAddon } from '../src/engine/addon.js';
import { TemplateSandbox } from '../src/engine/template-sandbox.js';
import { medianInterval, quantile } from './stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '300' } } });
const ROUNDS = Number(args.rounds);

// A Llama 3 style template (loops, conditionals, string building).
const LLAMA3 = "{{ bos_token }}{% for m in messages %}{{ '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
const short = [{ role: 'system', content: 'You are Aka.' }, { role: 'user', content: 'Hi, how are you?' }];
const long = Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} `.repeat(60) }));

const addon = loadAddon();
const sandbox = new TemplateSandbox({ maxWorkers: 1 });
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;

for (const [name, template, messages] of [['chatml, 2 messages', 'chatml', short], ['llama3, 2 messages', LLAMA3, short], ['llama3, 40 messages (19 kB)', LLAMA3, long]] as const) {
  const job = { template, bos: '<|begin_of_text|>', eos: '<|eot_id|>', messages: [...messages], addGenerationPrompt: true };
  // Warm both sides (worker start, parse caches).
  const expected = addon.renderChatTemplate(job.template, job.bos, job.eos, job.messages, true);
  if ((await sandbox.render(job)) !== expected) throw new Error('the worker rendered something else');
  const inProcess: number[] = [];
  const worker: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const sides = r % 2 ? ['worker', 'in-process'] : ['in-process', 'worker'];
    for (const side of sides) {
      const t0 = performance.now();
      if (side === 'worker') await sandbox.render(job);
      else addon.renderChatTemplate(job.template, job.bos, job.eos, job.messages, true);
      (side === 'worker' ? worker : inProcess).push(performance.now() - t0);
    }
  }
  const [lo, hi] = medianInterval(worker.map((w, i) => w - inProcess[i]));
  console.log(`${name}: in-process median ${fmt(quantile(inProcess, 0.5))} (p10 ${fmt(quantile(inProcess, 0.1))}, p90 ${fmt(quantile(inProcess, 0.9))}); ` +
    `worker median ${fmt(quantile(worker, 0.5))} (p10 ${fmt(quantile(worker, 0.1))}, p90 ${fmt(quantile(worker, 0.9))}); ` +
    `added per render: median ${fmt(quantile(worker.map((w, i) => w - inProcess[i]), 0.5))} [95% ${fmt(lo)} .. ${fmt(hi)}], ratio ${(quantile(worker, 0.5) / quantile(inProcess, 0.5)).toFixed(1)}x`);
}
sandbox.close();

const starts: number[] = [];
for (let i = 0; i < 7; i++) {
  const cold = new TemplateSandbox({ maxWorkers: 1 });
  const t0 = performance.now();
  await cold.render({ template: 'chatml', bos: '', eos: '', messages: short, addGenerationPrompt: true });
  starts.push(performance.now() - t0);
  cold.close();
}
console.log(`cold start (spawn node + addon, first render): median ${fmt(quantile(starts, 0.5))}, min ${fmt(Math.min(...starts))}, max ${fmt(Math.max(...starts))}`);
