// Chat templates cannot stop or kill the process (issue 10, part 2): Jinja renders in a worker
// process with a time limit and a memory cap. Before, rendering ran on the JS thread: the
// recursing template below was a SIGSEGV of the whole process and the looping ones blocked the
// event loop for minutes.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Model } from '../../src/engine/index.js';
import { TemplateSandbox } from '../../src/engine/template-sandbox.js';
import { AbortError, TemplateError } from '../../src/errors.js';
import { randomLlamaBytes } from '../support/gguf-writer.js';
import { addonBuilt, randomModel } from '../support/models.js';

const RECURSES = '{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}';
const LOOPS = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
const BIG_RANGE = '{% for i in range(1000000000) %}{% endfor %}';
const messages = [{ role: 'user', content: 'hi there' }];

/** Runs `fn` while measuring the longest gap between 10 ms timer ticks on this thread. */
async function longestStall<T>(fn: () => Promise<T>): Promise<{ stallMs: number; result: PromiseSettledResult<T> }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 10);
  const [result] = await Promise.allSettled([fn()]);
  clearInterval(timer);
  return { stallMs, result };
}

describe.skipIf(!addonBuilt)('chat templates cannot stop or kill the process', () => {
  let model: Model;
  let looping: Model;
  const loopingPath = join(tmpdir(), `akachat-looping-template-${process.pid}.gguf`);

  beforeAll(async () => {
    model = await Model.load(await randomModel());
    const file = randomLlamaBytes({ embedding: 32, layers: 1, vocab: 300, metadata: { 'tokenizer.chat_template': { type: 'string', value: '{% for i in range(99999999) %}{% endfor %}' } } });
    writeFileSync(loopingPath, file.bytes);
    looping = await Model.load(loopingPath);
  });

  afterAll(() => {
    model?.dispose();
    looping?.dispose();
    rmSync(loopingPath, { force: true });
  });

  it('a template that recurses without end is a TemplateError; the next render works', async () => {
    const err = await model.applyChatTemplate(messages, { template: RECURSES }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as Error).message).toMatch(/crashed its worker process/);
    expect(await model.applyChatTemplate(messages, { template: '{{ messages[0].content }}!', addGenerationPrompt: false })).toBe('hi there!');
  });

  it('a template that loops stops at its time limit while the event loop keeps ticking', async () => {
    const started = performance.now();
    const { stallMs, result } = await longestStall(() => model.applyChatTemplate(messages, { template: LOOPS, timeoutMs: 3000 }));
    const took = performance.now() - started;
    expect(result.status).toBe('rejected');
    const err = (result as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(TemplateError);
    expect(err.message).toMatch(/did not finish within 3000 ms/);
    expect(took).toBeGreaterThanOrEqual(2900);
    expect(took).toBeLessThan(8000);
    // In-process, the loop held this thread for the whole render (minutes).
    expect(stallMs).toBeLessThan(1000);
  });

  it('range(1000000000) fails with a TemplateError (memory cap or time limit), not a frozen process', async () => {
    const { stallMs, result } = await longestStall(() => model.applyChatTemplate(messages, { template: BIG_RANGE, timeoutMs: 5000 }));
    expect(result.status).toBe('rejected');
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(TemplateError);
    expect((result as PromiseRejectedResult).reason.message).toMatch(/did not finish within 5000 ms|more than 1024 MiB/);
    expect(stallMs).toBeLessThan(1000);
  });

  it("a GGUF whose own template loops holds up neither the event loop nor another model's render", async () => {
    const slow = looping.applyChatTemplate(messages, { timeoutMs: 4000 });
    const started = performance.now();
    const other = await model.applyChatTemplate(messages, { template: '[{{ messages[0].content }}]', addGenerationPrompt: false });
    expect(other).toBe('[hi there]');
    expect(performance.now() - started).toBeLessThan(3000);
    await expect(slow).rejects.toThrow(TemplateError);
  });

  it('after a time-out the same template fails at once for a while, without holding a worker', async () => {
    const sandbox = new TemplateSandbox({ maxWorkers: 1, cooldownMs: 60_000 });
    try {
      const job = { template: LOOPS, bos: '', eos: '', messages, addGenerationPrompt: false };
      await expect(sandbox.render(job, { timeoutMs: 1000 })).rejects.toThrow(/did not finish within 1000 ms/);
      const started = performance.now();
      await expect(sandbox.render(job, { timeoutMs: 1000 })).rejects.toThrow(/did not finish within 1000 ms.*\(\d+ s ago; not tried again for 60 s\)/);
      expect(performance.now() - started).toBeLessThan(200);
      // The one worker is free for other templates.
      expect(await sandbox.render({ ...job, template: 'ok' })).toBe('ok');
    } finally {
      sandbox.close();
    }
  });

  it('an abort stops a render that would never end', async () => {
    const controller = new AbortController();
    // Another text than LOOPS: that one timed out above and fails at once for a while.
    const pending = model.applyChatTemplate(messages, { template: `${LOOPS}{# aborted #}`, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('a template that allocates without bound fails at the memory cap', async () => {
    const sandbox = new TemplateSandbox({ maxWorkers: 1, memoryBytes: 768 * 2 ** 20 });
    try {
      const job = { template: "{{ 'x' * 2000000000 }}", bos: '', eos: '', messages, addGenerationPrompt: false };
      await expect(sandbox.render(job, { timeoutMs: 30_000 })).rejects.toThrow(/more than 768 MiB of memory/);
      // The worker survived the failed allocation and renders the next job.
      expect(await sandbox.render({ ...job, template: 'ok' })).toBe('ok');
    } finally {
      sandbox.close();
    }
  });

  it('a template error names its line and column', async () => {
    const err = await model.applyChatTemplate(messages, { template: "line one\n{{ raise_exception('no') }}" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TemplateError);
    expect(err).toMatchObject({ code: 'TEMPLATE_ERROR', line: 2 });
  });

  it('an idle template worker keeps no process alive', async () => {
    const started = performance.now();
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'render-and-exit.ts'), await randomModel()], { encoding: 'utf8', timeout: 30_000 });
    expect(child.stdout.trim()).toBe('hi!');
    expect(child.status).toBe(0);
    // Held by the worker's stderr pipe, it waited for the worker's idle timeout (60 s).
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('built-in names and the model\'s own template still render', async () => {
    expect(await model.applyChatTemplate(messages, { template: 'llama2' })).toContain('hi there');
    expect(await model.applyChatTemplate(messages)).toBe('<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n');
  });
});
