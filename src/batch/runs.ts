/**
 * Batches started in the background and watched from elsewhere (the WebAPI's batch routes, the
 * playground's batch tab): each run keeps its events, so a watcher that arrives late, or comes
 * back after a dropped connection, replays what happened and then follows the rest.
 */
import type { Akachat } from '../akachat.js';
import { NotFoundError } from '../errors.js';
import { Batch, type BatchOptions, type BatchProgress, type BatchReport } from './batch.js';
import { batchStamp, type BatchSummary, type CellResult } from './reports.js';

export type BatchEvent =
  | { type: 'start'; id: string; total: number }
  | { type: 'progress'; done: number; total: number; skipped: number; phase: BatchProgress['phase']; elapsedMs: number; etaMs?: number }
  | { type: 'cell'; result: CellResult }
  | { type: 'done'; summary: BatchSummary }
  | { type: 'error'; message: string };

export interface BatchRunStatus {
  id: string;
  state: 'running' | 'done' | 'cancelled' | 'failed';
  total: number;
  done: number;
  summary?: BatchSummary;
  error?: string;
  startedAt: string;
}

interface Run {
  id: string;
  batch: Batch;
  controller: AbortController;
  events: BatchEvent[];
  /** Watchers waiting for the next event. */
  wakers: Set<() => void>;
  status: BatchRunStatus;
  report?: BatchReport;
}

/** Finished runs kept in memory for watchers; older ones are only on disk (their reports). */
const KEEP_FINISHED = 20;

export class BatchRuns {
  readonly #akachat: Akachat;
  readonly #runs = new Map<string, Run>();

  constructor(akachat: Akachat) {
    this.#akachat = akachat;
  }

  /** Starts a batch in the background; its id is also the name of its report files. */
  async start(options: Omit<BatchOptions, 'name'>): Promise<BatchRunStatus> {
    const id = this.#newId();
    const batch = new Batch(this.#akachat, { ...options, name: id });
    const total = (await batch.cells()).length; // refuses an empty or invalid batch before it starts
    const run: Run = {
      id,
      batch,
      controller: new AbortController(),
      events: [],
      wakers: new Set(),
      status: { id, state: 'running', total, done: 0, startedAt: new Date().toISOString() },
    };
    this.#runs.set(id, run);
    this.#emit(run, { type: 'start', id, total });
    void this.#execute(run);
    this.#forgetOld();
    return { ...run.status };
  }

  status(id: string): BatchRunStatus {
    return { ...this.#run(id).status };
  }

  /** Runs still in memory, newest first. */
  list(): BatchRunStatus[] {
    return [...this.#runs.values()].reverse().map((run) => ({ ...run.status }));
  }

  /** Every cell result so far. */
  results(id: string): CellResult[] {
    return this.#run(id).events.flatMap((event) => (event.type === 'cell' ? [event.result] : []));
  }

  cancel(id: string): BatchRunStatus {
    const run = this.#run(id);
    run.controller.abort(new Error('cancelled'));
    return { ...run.status };
  }

  /** The run's events from the first, then live ones until it ends (or `signal` fires). */
  async *events(id: string, signal?: AbortSignal): AsyncGenerator<BatchEvent> {
    const run = this.#run(id);
    let index = 0;
    for (;;) {
      while (index < run.events.length) yield run.events[index++];
      if (run.status.state !== 'running' || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          run.wakers.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        run.wakers.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Cancels every running batch (server shutdown). */
  cancelAll(): void {
    for (const run of this.#runs.values()) if (run.status.state === 'running') run.controller.abort(new Error('shutting down'));
  }

  async #execute(run: Run): Promise<void> {
    try {
      const report = await run.batch.runAll({
        signal: run.controller.signal,
        onProgress: (progress) => {
          if (progress.phase === 'generate') run.status.done = progress.done;
          const { result, ...rest } = progress;
          if (result) this.#emit(run, { type: 'cell', result });
          this.#emit(run, { type: 'progress', ...rest });
        },
      });
      run.report = report;
      run.status.summary = report.summary;
      run.status.state = report.summary.cancelled ? 'cancelled' : 'done';
      this.#emit(run, { type: 'done', summary: report.summary });
    } catch (error) {
      run.status.state = 'failed';
      run.status.error = error instanceof Error ? error.message : String(error);
      this.#emit(run, { type: 'error', message: run.status.error });
    }
  }

  #emit(run: Run, event: BatchEvent): void {
    run.events.push(event);
    for (const wake of [...run.wakers]) wake();
  }

  #run(id: string): Run {
    const run = this.#runs.get(id);
    if (!run) throw new NotFoundError(`No batch run ${JSON.stringify(id)} in this server (its reports may still be in log/)`);
    return run;
  }

  #newId(): string {
    const base = batchStamp(new Date());
    let id = base;
    for (let n = 2; this.#runs.has(id); n++) id = `${base}_${n}`;
    return id;
  }

  #forgetOld(): void {
    const finished = [...this.#runs.values()].filter((run) => run.status.state !== 'running');
    for (const run of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.#runs.delete(run.id);
  }
}
