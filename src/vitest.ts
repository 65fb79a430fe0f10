/**
 * `akachat/vitest`: a batch as a vitest suite. One test per cell, named
 * `prompt / model / t=0.7 / input`, passing when the cell ran and all its checks passed; the
 * batch's reports (`log/batch_*.log`, .json, .csv, .md, .html) are written as usual. Cells run in
 * the batch's order (model by model); each test waits for its own cell, so results show up as
 * they come. With judge checks, tests wait for the judge phase at the end.
 *
 *   import { describeBatch } from 'akachat/vitest';
 *   describeBatch('stories vs tiny', () => new Batch(akachat, { models: [a, b], temperatures: [0], checks }));
 *
 * vitest is a peer dependency: this entry point is only for test files.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Batch, BatchReport } from './batch/batch.js';
import { cellKey, type BatchCell, type CellResult } from './batch/reports.js';

export interface DescribeBatchOptions {
  /** Per-test timeout, ms (a cell may have to wait for a model load). Default 120000. */
  timeout?: number;
  /** Called once every cell has run and the reports are written. */
  onReport?: (report: BatchReport) => void | Promise<void>;
}

/** A test's name for a cell. */
export function cellTestName(cell: BatchCell): string {
  const input = cell.input.length > 40 ? `${cell.input.slice(0, 37)}...` : cell.input;
  return `${cell.prompt} / ${cell.model || 'default'} / t=${cell.temperature} / ${JSON.stringify(input)}${cell.repeat > 0 ? ` #${cell.repeat + 1}` : ''}`;
}

export function describeBatch(title: string, setup: () => Batch | Promise<Batch>, options: DescribeBatchOptions = {}): void {
  describe(title, async () => {
    const batch = await setup();
    const cells = await batch.cells();
    const waiting = new Map(cells.map((cell) => [cellKey(cell), deferred<CellResult>()]));
    let started: Promise<BatchReport> | undefined;
    // Started by the first test, so a filtered or skipped suite runs nothing.
    const start = () => {
      started ??= (async () => {
        const run = batch.run();
        const results: CellResult[] = [];
        for await (const result of run) {
          results.push(result);
          if (!batch.hasJudgeChecks) waiting.get(result.key)?.resolve(result);
        }
        const report = await run.report;
        // Judge verdicts are added to the results after the generation phase: settle every cell now.
        for (const result of report.results) waiting.get(result.key)?.resolve(result);
        for (const [key, pending] of waiting) pending.reject(new Error(`cell ${key} did not run (the batch was cancelled)`));
        return report;
      })();
      started.catch((error: unknown) => {
        for (const pending of waiting.values()) pending.reject(error);
      });
      return started;
    };
    // The reports are written after the last cell: the suite ends once they are.
    afterAll(async () => {
      if (!started) return;
      const report = await started;
      await options.onReport?.(report);
    });
    for (const cell of cells) {
      it(cellTestName(cell), async () => {
        void start();
        const result = await waiting.get(cellKey(cell))!.promise;
        expect(result.error, 'the cell failed').toBeUndefined();
        for (const check of result.checks) expect(check.pass, `${check.name}: ${check.message ?? ''}\noutput: ${result.output}`).toBe(true);
      }, options.timeout ?? 120_000);
    }
  });
}

function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // a cell no test waits for (filtered out) must not be an unhandled rejection
  return { promise, resolve, reject };
}
