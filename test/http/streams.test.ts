import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { BusyError } from '../../src/errors.js';
import { errorResponse } from '../../src/http/errors.js';
import { samplingToOptions, splitConversation } from '../../src/run/runner.js';
import { GenerationQueue } from '../../src/run/admission.js';
import { ReasoningSplitter, splitReasoning } from '../../src/http/reasoning.js';
import { SentenceChunker } from '../../src/http/sentence-chunks.js';

/** Feeds `text` in pieces of `size` characters and joins what comes out. */
function streamReasoning(text: string, size: number) {
  const splitter = new ReasoningSplitter();
  let content = '';
  let reasoning = '';
  for (let i = 0; i < text.length; i += size) {
    const part = splitter.push(text.slice(i, i + size));
    content += part.content;
    reasoning += part.reasoning;
  }
  const rest = splitter.flush();
  return { content: content + rest.content, reasoning: reasoning + rest.reasoning };
}

describe('ReasoningSplitter', () => {
  it('moves a leading <think> block out of the content, whatever the chunking', () => {
    const reply = '\n<think>The user greets me.\nBe warm.</think>\n\n[happy] Hello!';
    for (const size of [1, 2, 3, 7, 100]) {
      expect(streamReasoning(reply, size), `size ${size}`).toEqual({ reasoning: 'The user greets me.\nBe warm.', content: '[happy] Hello!' });
    }
  });

  it('leaves replies without a leading <think> unchanged', () => {
    for (const reply of ['Hello <think>not reasoning</think>', '<thin', '  plain', '<b>bold</b>', '']) {
      for (const size of [1, 4, 50]) expect(streamReasoning(reply, size).content, `${reply} / ${size}`).toBe(reply);
    }
  });

  it('treats an unclosed <think> as reasoning to the end', () => {
    expect(splitReasoning('<think>still thinking </thi')).toEqual({ content: '', reasoning: 'still thinking </thi' });
  });
});

describe('SentenceChunker', () => {
  it('regroups deltas at sentence ends without changing the text', () => {
    const reply = '[happy] こんにちは！今日はいい天気ですね。\n\nPi is 3.14, right? Yes.';
    for (const size of [1, 2, 5]) {
      const chunker = new SentenceChunker();
      const out: string[] = [];
      for (let i = 0; i < reply.length; i += size) {
        const ready = chunker.push(reply.slice(i, i + size));
        if (ready) out.push(ready);
      }
      out.push(chunker.flush());
      expect(out.join(''), `size ${size}`).toBe(reply);
      expect(out[0], `size ${size}`).toBe('[happy] こんにちは！');
      expect(out[1]).toBe('今日はいい天気ですね。');
      expect(out.some((piece) => piece.endsWith('3.'))).toBe(false);
    }
  });
});

describe('GenerationQueue', () => {
  it('grants turns one at a time in arrival order', async () => {
    const queue = new GenerationQueue({ maxWaiting: 4 });
    const order: number[] = [];
    const first = await queue.acquire();
    const waiting = [1, 2, 3].map((n) => queue.acquire().then((turn) => {
      order.push(n);
      return turn;
    }));
    expect(queue.running).toBe(1);
    expect(queue.waiting).toBe(3);
    first.release();
    first.release(); // idempotent
    for (const turn of waiting) (await turn).release();
    expect(order).toEqual([1, 2, 3]);
    expect(queue.running).toBe(0);
  });

  it('refuses with 503 and Retry-After when the line is full', async () => {
    const queue = new GenerationQueue({ maxWaiting: 1 });
    const turn = await queue.acquire();
    const waiter = queue.acquire();
    const error = await queue.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusyError);
    expect(errorResponse('openai', error).status).toBe(503);
    expect(Number(errorResponse('openai', error).headers.get('Retry-After'))).toBeGreaterThanOrEqual(1);
    turn.release();
    (await waiter).release();
  });

  it('drops a waiter whose signal fires, and lets the next one in', async () => {
    const queue = new GenerationQueue();
    const turn = await queue.acquire();
    const controller = new AbortController();
    const leaving = queue.acquire(controller.signal);
    const staying = queue.acquire();
    controller.abort();
    await expect(leaving).rejects.toBeInstanceOf(AbortError);
    expect(queue.waiting).toBe(1);
    turn.release();
    (await staying).release();
    expect(queue.running).toBe(0);
  });
});

describe('request mapping', () => {
  it('maps sampling fields to option overrides, leaving out what the client did not send and the context size (the owner\'s)', () => {
    expect(samplingToOptions({})).toEqual({});
    expect(samplingToOptions({ maxTokens: 5, temperature: 0, topP: 0.9, topK: 20, minP: 0.1, repeatPenalty: 1.1, seed: 7, stop: ['\n'], contextSize: 2048 })).toEqual({
      max_new_tokens: 5, temperature: 0, top_p: 0.9, top_k: 20, min_p: 0.1, repetition_penalty: 1.1, seed: 7, stop: ['\n'],
    });
  });

  it('turns a conversation into a prompt run: earlier turns are history, the last user turn the input', () => {
    expect(splitConversation([
      { role: 'system', content: 'client persona (left out)' },
      { role: 'assistant', content: 'Hi, I am Tama!' },
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Meow' },
      { role: 'user', content: 'What do you eat?' },
    ])).toEqual({
      history: [{ role: 'assistant', content: 'Hi, I am Tama!' }, { role: 'user', content: 'Hello' }, { role: 'assistant', content: 'Meow' }],
      input: 'What do you eat?',
    });
    expect(splitConversation([{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }])).toEqual({ history: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }], input: '' });
  });
});
