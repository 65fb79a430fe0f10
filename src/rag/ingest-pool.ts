/**
 * Worker threads that run the heavy parts of RAG ingestion (ingest-tasks.ts), so that no
 * archive or document can hold up the JS thread of a server. One task per worker at a time;
 * an aborted task terminates its worker, which stops the work at once. Idle workers are
 * unreferenced (they never keep a process alive) and end after a while.
 */
import { availableParallelism } from 'node:os';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AbortError, AkachatError, abortReason, throwIfAborted } from '../errors.js';
import { deserialiseError, type IngestTask, type SerialisedError, type TaskPart } from './ingest-tasks.js';

/** Workers at most; further tasks wait for one. */
const MAX_WORKERS = Math.max(1, Math.min(4, availableParallelism() - 1));
/** An idle worker ends after this long; starting one costs tens of milliseconds. */
const IDLE_MS = 30_000;

type WorkerMessage = { kind: 'part'; part: TaskPart } | { kind: 'done'; value: unknown } | { kind: 'error'; error: SerialisedError };

interface PooledWorker {
  worker: Worker;
  idleTimer?: NodeJS.Timeout;
}

const idle: PooledWorker[] = [];
const waiting: (() => void)[] = [];
let started = 0;
let busy = 0;

/** Workers alive now and those running a task; for tests that check an abort ended its work. */
export function ingestWorkerStats(): { workers: number; busy: number } {
  return { workers: started, busy };
}

export interface RunTaskOptions {
  /** Buffers handed over to the worker (they become unusable here). */
  transfer?: ArrayBuffer[];
  signal?: AbortSignal;
  onPart?: (part: TaskPart) => void;
}

/** Runs a task on a worker thread; an abort terminates that worker and rejects with AbortError. */
export async function runIngestTask<T>(request: IngestTask, options: RunTaskOptions = {}): Promise<T> {
  const { signal } = options;
  throwIfAborted(signal);
  const pooled = await acquire(signal);
  const { worker } = pooled;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const finish = (keepWorker: boolean, settle: () => void) => {
      if (settled) return;
      settled = true;
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
      busy--;
      if (keepWorker) release(pooled);
      else void worker.terminate();
      settle();
    };
    const onMessage = (message: WorkerMessage) => {
      if (message.kind === 'part') {
        try {
          options.onPart?.(message.part);
        } catch (err) {
          finish(false, () => reject(err));
        }
      } else if (message.kind === 'done') {
        finish(true, () => resolve(message.value as T));
      } else {
        finish(true, () => reject(deserialiseError(message.error)));
      }
    };
    const onError = (err: Error) => finish(false, () => reject(workerFailed(err)));
    const onExit = (code: number) => finish(false, () => reject(workerFailed(new Error(`exited with code ${code}`))));
    const onAbort = () => finish(false, () => reject(new AbortError(abortReason(signal!))));
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.postMessage(request, options.transfer ?? []);
  });
}

function workerFailed(err: Error): AkachatError {
  const outOfMemory = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
  return new AkachatError(`RAG ingestion worker failed${outOfMemory ? ' (out of memory)' : ''}: ${err.message}`, 'RAG_WORKER_FAILED', { cause: err });
}

async function acquire(signal: AbortSignal | undefined): Promise<PooledWorker> {
  while (idle.length === 0 && started >= MAX_WORKERS) {
    await new Promise<void>((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = waiting.indexOf(wake);
        if (at >= 0) waiting.splice(at, 1);
        reject(new AbortError(abortReason(signal!)));
      };
      waiting.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  const pooled = idle.pop() ?? start();
  busy++;
  clearTimeout(pooled.idleTimer);
  pooled.worker.ref();
  return pooled;
}

function release(pooled: PooledWorker): void {
  pooled.worker.unref();
  pooled.idleTimer = setTimeout(() => void pooled.worker.terminate(), IDLE_MS).unref();
  idle.push(pooled);
  waiting.shift()?.();
}

function start(): PooledWorker {
  const worker = spawn();
  const pooled: PooledWorker = { worker };
  started++;
  worker.on('error', () => {}); // reported to the task running on it, if any
  worker.once('exit', () => {
    started--;
    const at = idle.indexOf(pooled);
    if (at >= 0) idle.splice(at, 1);
    clearTimeout(pooled.idleTimer);
    waiting.shift()?.();
  });
  return pooled;
}

/**
 * Built, the worker is dist/rag-worker.js beside the bundle; run from the TypeScript sources
 * (vitest, tsx), it is ingest-worker.ts beside this file, loaded through tsx as well.
 */
function spawn(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./rag-worker.js', here));
  const tsx = pathToFileURL(createRequire(here).resolve('tsx/esm/api')).href;
  const entry = new URL('./ingest-worker.ts', here).href;
  return new Worker(`import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`, { eval: true });
}
