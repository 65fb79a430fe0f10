import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/errors.js';
import { BusyError } from '../../src/errors.js';
import { errorResponse } from '../../src/http/errors.js';
import { GenerationQueue, type QueueTurn } from '../../src/run/admission.js';

/** Acquires a turn and records the order in which turns are granted. */
function track(queue: GenerationQueue, order: number[], n: number, signal?: AbortSignal): Promise<QueueTurn> {
  return queue.acquire(signal).then((turn) => {
    order.push(n);
    return turn;
  });
}

describe('GenerationQueue as admission to slots', () => {
  it('lets as many requests run as the context has slots, the rest in arrival order', async () => {
    const queue = new GenerationQueue({ maxWaiting: 8, concurrency: 3 });
    const order: number[] = [];
    const running = await Promise.all([1, 2, 3].map((n) => track(queue, order, n)));
    const waiting = [4, 5, 6, 7].map((n) => track(queue, order, n));
    expect(queue.running).toBe(3);
    expect(queue.waiting).toBe(4);
    running[1]!.release();
    running[1]!.release(); // idempotent: frees one slot only
    await waiting[0];
    expect(queue.running).toBe(3);
    expect(queue.waiting).toBe(3);
    running[0]!.release();
    running[2]!.release();
    await Promise.all(waiting.slice(1, 3));
    expect(queue.running).toBe(3);
    expect(queue.waiting).toBe(1);
    for (const turn of waiting) (await turn).release();
    expect(order).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(queue.running).toBe(0);
  });

  it('follows a slot count that changes (a model with more slots is loaded)', async () => {
    let slots = 1;
    const queue = new GenerationQueue({ maxWaiting: 4, concurrency: () => slots });
    const first = await queue.acquire();
    const second = queue.acquire();
    expect(queue.waiting).toBe(1);
    slots = 2;
    const third = queue.acquire(); // joining the line grants what the new count allows
    await second;
    expect(queue.running).toBe(2);
    expect(queue.waiting).toBe(1);
    first.release();
    (await third).release();
    (await second).release();
    expect(queue.running).toBe(0);
  });

  it('refuses with 503 and a Retry-After scaled by the slots when the line is full', async () => {
    const queue = new GenerationQueue({ maxWaiting: 2, concurrency: 2 });
    const turns = await Promise.all([queue.acquire(), queue.acquire()]);
    const waiters = [queue.acquire(), queue.acquire()];
    const error = await queue.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BusyError);
    expect(errorResponse('openai', error).status).toBe(503);
    expect((error as BusyError).message).toMatch(/2 request\(s\) running and 2 waiting/);
    // No run finished yet: 1 s assumed per run, 4 ahead over 2 slots.
    expect((error as BusyError).retryAfterSeconds).toBe(2);
    expect(errorResponse('openai', error).headers.get('Retry-After')).toBe('2');
    for (const turn of turns) turn.release();
    for (const waiter of waiters) (await waiter).release();
  });

  it('drops a waiter whose signal fires (disconnect or timeout) without taking a slot', async () => {
    const queue = new GenerationQueue({ concurrency: 2 });
    const turns = await Promise.all([queue.acquire(), queue.acquire()]);
    const controller = new AbortController();
    const order: number[] = [];
    const leaving = track(queue, order, 1, controller.signal);
    const staying = track(queue, order, 2);
    controller.abort(new Error('client closed'));
    await expect(leaving).rejects.toBeInstanceOf(AbortError);
    expect(queue.waiting).toBe(1);
    turns[0]!.release();
    (await staying).release();
    turns[1]!.release();
    expect(order).toEqual([2]);
    expect(queue.running).toBe(0);
  });

  it('rejects a bad slot count with a clear message', () => {
    expect(() => new GenerationQueue({ concurrency: 0 })).toThrow(/Expected .* for concurrency but received 0/);
    const queue = new GenerationQueue({ concurrency: () => -1 });
    expect(() => queue.concurrency).toThrow(/concurrency/);
  });
});
