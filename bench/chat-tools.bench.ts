/**
 * Cost of llama.cpp's chat layer (src/engine/chat-format.ts), interleaved round by round in the
 * same template worker process:
 * - render: the prompt alone (renderChatTemplate, the reference) against common_chat_templates_apply
 *   without tools and with 1 and 8 tools (prompt, grammar and reply parser);
 * - parse: a streamed reply parsed again at each 4-character chunk by llama.cpp's parser, against
 *   the `<think>` splitter (the reference) on the same chunks.
 *
 * Needs vendor/llama.cpp/models/templates. Usage: npx tsx bench/chat-tools.bench.ts [--rounds 100]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadAddon } from '../src/engine/addon.js';
import { ChatReplyParser, type ReplyFormat } from '../src/engine/chat-format.js';
import { TemplateSandbox } from '../src/engine/template-sandbox.js';
import { medianInterval, quantile } from './stats.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '100' } } });
const ROUNDS = Number(args.rounds);
const QWEN = readFileSync(join(import.meta.dirname, '../vendor/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja'), 'utf8');
const messages = [{ role: 'system', content: 'You are Aka.' }, { role: 'user', content: 'Weather in Paris?' }];
const tool = (i: number) => ({ type: 'function', function: { name: `tool_${i}`, description: 'A tool', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] } } });
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;
const summary = (name: string, values: number[], reference: number[]) => {
  const [lo, hi] = medianInterval(values.map((v, i) => v - reference[i]));
  return `${name}: median ${fmt(quantile(values, 0.5))} (p10 ${fmt(quantile(values, 0.1))}, p90 ${fmt(quantile(values, 0.9))}), ` +
    `added median ${fmt(quantile(values.map((v, i) => v - reference[i]), 0.5))} [95% ${fmt(lo)} .. ${fmt(hi)}], ratio ${(quantile(values, 0.5) / quantile(reference, 0.5)).toFixed(2)}x`;
};

const sandbox = new TemplateSandbox({ maxWorkers: 1 });
const base = { template: QWEN, bos: '', eos: '<|im_end|>', messages, addGenerationPrompt: true };
const jobs = {
  'render (reference)': base,
  'apply, no tools': { ...base, inputs: JSON.stringify({ messages }) },
  'apply, 1 tool': { ...base, inputs: JSON.stringify({ messages, tools: [tool(0)] }) },
  'apply, 8 tools': { ...base, inputs: JSON.stringify({ messages, tools: Array.from({ length: 8 }, (_, i) => tool(i)) }) },
};
for (const job of Object.values(jobs)) await sandbox.render(job);  // worker start, parse caches
const times: Record<string, number[]> = Object.fromEntries(Object.keys(jobs).map((k) => [k, []]));
for (let r = 0; r < ROUNDS; r++) {
  const order = Object.entries(jobs);
  if (r % 2) order.reverse();
  for (const [name, job] of order) {
    const t0 = performance.now();
    await sandbox.render(job);
    times[name].push(performance.now() - t0);
  }
}
const reference = times['render (reference)'];
console.log(`render in the worker, Qwen2.5 template, 2 messages, ${ROUNDS} rounds:`);
for (const name of Object.keys(jobs)) console.log(`  ${summary(name, times[name], reference)}`);

const applied = JSON.parse(await sandbox.render(jobs['apply, 1 tool']));
sandbox.close();
const format: ReplyFormat = { format: applied.format, reasoningFormat: 'auto', generationPrompt: applied.generationPrompt, parser: applied.parser, parseToolCalls: true };
const text = 'Let me look that up for you. '.repeat(40) + '<tool_call>\n{"name": "tool_0", "arguments": {"city": "Paris", "days": 3}}\n</tool_call>';
const chunks = text.match(/[\s\S]{1,4}/g)!;
// Each chunk parses the whole reply so far (as while streaming with chunks a token apart; a tight
// loop would be throttled by ChatReplyParser): llama.cpp's parser on every prefix.
const native = new (loadAddon().ChatParser!)(format);
const parse: number[] = [];
const split: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  for (const side of r % 2 ? ['split', 'parse'] : ['parse', 'split']) {
    const t0 = performance.now();
    if (side === 'parse') {
      let so = '';
      for (const chunk of chunks) native.parse(so += chunk, true);
      if (native.parse(so, false).toolCalls.length !== 1) throw new Error('the call was not parsed');
    } else {
      const splitter = new ChatReplyParser(undefined);
      for (const chunk of chunks) splitter.push(chunk);
      splitter.finish();
    }
    (side === 'parse' ? parse : split).push(performance.now() - t0);
  }
}
console.log(`parse a streamed reply (${text.length} characters in ${chunks.length} chunks, each parsing all so far), ${ROUNDS} rounds:`);
console.log(`  <think> splitter (reference): median ${fmt(quantile(split, 0.5))}`);
console.log(`  ${summary("llama.cpp's parser", parse, split)}; per chunk ${fmt(quantile(parse, 0.5) / chunks.length)}`);
