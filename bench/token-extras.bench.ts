/**
 * What the token-level extras cost per generated token, in one run: the same greedy generation on
 * the 32k-vocabulary random Llama (AKACHAT_TEST_MODELS/llama-2-tiny-random.gguf: its tiny layers
 * make sampling a large share of each token) plain, with the token ids handed out, with
 * `probabilities` (top 20, from the raw logits) and with post-sampling probabilities, in
 * alternating rounds. Prints ms/token medians with 95% intervals and each variant's ratio to plain.
 *
 * Usage: npx tsx bench/token-extras.bench.ts [--rounds 15 --tokens 64 --threads 1]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Model, type GenerateOptions } from '../src/engine/index.js';
import { medianInterval, quantile } from './stats.js';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '15' }, tokens: { type: 'string', default: '64' }, threads: { type: 'string', default: '1' } },
});
const folder = process.env.AKACHAT_TEST_MODELS;
if (!folder) throw new Error('Set AKACHAT_TEST_MODELS to the folder holding llama-2-tiny-random.gguf');
const tokens = Number(args.tokens);

const variants: Record<string, GenerateOptions> = {
  plain: {},
  tokens: { tokens: true },
  'probabilities 20': { probabilities: 20 },
  'post-sampling 20': { probabilities: 20, postSamplingProbabilities: true, repeatPenalty: 1.0001 },
  // The reference for the row above: the same sampler chain (a penalty makes it leave the argmax path).
  'chain, no extras': { repeatPenalty: 1.0001 },
};

const model = await Model.load(join(folder, 'llama-2-tiny-random.gguf'));
const ctx = await model.createContext({ contextSize: 512, threads: Number(args.threads) });
const prompt = model.tokenize('Once upon a time there was', { addSpecial: true });
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let round = -1; round < Number(args.rounds); round++) {
  for (const [name, options] of Object.entries(variants)) {
    const result = await ctx.generate(prompt, { temperature: 0, ignoreEos: true, maxTokens: tokens, ...options }).result;
    if (round >= 0) times[name].push(result.decodeMs / Math.max(1, result.generatedTokens - 1)); // round -1 warms up
  }
}
const plain = quantile(times.plain, 0.5);
for (const [name, values] of Object.entries(times)) {
  const [low, high] = medianInterval(values);
  const median = quantile(values, 0.5);
  const reference = name === 'post-sampling 20' ? quantile(times['chain, no extras'], 0.5) : plain;
  console.log(`${name.padEnd(18)} ${median.toFixed(3)} ms/token (95% ${low.toFixed(3)}-${high.toFixed(3)})  x${(median / reference).toFixed(2)} vs ${name === 'post-sampling 20' ? 'chain, no extras' : 'plain'}`);
}
model.dispose();
