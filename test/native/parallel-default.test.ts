/** ModelManager's default slot count: chosen from memory ('auto'), or as configured. */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { ModelManager } from '../../src/llm/model-manager.js';
import { addonBuilt, sharedModel } from '../support/models.js';

const stories = addonBuilt ? sharedModel('stories') : undefined;

describe.skipIf(!stories)('ModelManager parallel', () => {
  it("defaults to 'auto': a model whose KV cache is small gets 4 slots", async () => {
    const manager = new ModelManager({ keepAliveMs: 0, threads: 1, contextSize: 256 });
    try {
      expect(manager.parallel).toBe(4);  // nothing loaded yet: as many as auto gives
      const lease = await manager.acquire(stories!);
      expect(lease.context.slots).toHaveLength(4);
      expect(lease.context.info.contextSize).toBe(256);  // per slot
      lease.release();
      expect(manager.parallel).toBe(4);
    } finally {
      await manager.dispose();
    }
  });

  it('keeps a configured count (1: one generation at a time, as before slots)', async () => {
    const manager = new ModelManager({ keepAliveMs: 0, threads: 1, contextSize: 256, parallel: 1 });
    try {
      const lease = await manager.acquire(stories!);
      expect(lease.context.slots).toHaveLength(1);
      expect(manager.parallel).toBe(1);
      lease.release();
    } finally {
      await manager.dispose();
    }
  });

  it('refuses what is neither a slot count nor auto', () => {
    expect(() => new ModelManager({ parallel: 0 })).toThrow(InvalidArgumentError);
    expect(() => new ModelManager({ parallel: 'all' as never })).toThrow(/Expected 'auto' or a number of slots \(1-256\) for parallel but received/);
  });
});
