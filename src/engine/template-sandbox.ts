/**
 * Jinja chat templates render in a worker process (the "template worker"), never in this one.
 *
 * Why a process: llama.cpp's Jinja engine (vendor/llama.cpp/common/jinja) has no hook for a time
 * limit, a memory limit or a recursion-depth guard, and a native thread cannot be stopped safely.
 * In-process, a template that recurses without end (`{% macro f(n) %}{{ f(n+1) }}{% endmacro %}`)
 * overflows the stack of any thread (SIGSEGV: the whole process), and one that loops
 * (`range(1000000000)`) runs for minutes while it allocates tens of GB. In a child the first kills
 * only the child, the second is stopped by killing the child at a deadline, and a data-segment
 * cap (RLIMIT_DATA) makes a runaway allocation fail there with std::bad_alloc. Parsing runs in the
 * worker too, since llama.cpp runs a template while it parses it (to probe its capabilities).
 * A verdict cached per template text would not do: whether a template ends can depend on the
 * messages, which callers choose.
 *
 * Cost (bench/template.bench.ts, a busy 2-core VM, medians): 1-5 ms more per render than
 * in-process (chatml, 2 messages: 2.3 -> 7.6 ms; Llama 3 style, 40 messages: 19.6 -> 24.2 ms),
 * and a worker start (node + addon, ~110 ms) on first use and after `idleMs` unused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { AbortError, AddonLoadError, AkachatError, TemplateError, abortReason } from '../errors.js';
import { expectInteger } from '../validate.js';
import { addonStatus } from './addon.js';
import { renderChatmlJob } from './chatml.js';

export interface TemplateJob {
  /** A Jinja source or `'chatml'`. */
  template: string;
  bos: string;
  eos: string;
  messages: { role: string; content: string }[];
  addGenerationPrompt: boolean;
  /**
   * Instead of `messages`: the JSON inputs of llama.cpp's chat layer (messages with tool calls,
   * tools, tool choice, reasoning settings; see chat-format.ts). The render then answers with
   * llama.cpp's JSON (prompt, grammar, triggers, parser) instead of the prompt alone.
   */
  inputs?: string;
}

export interface TemplateRenderOptions {
  /** A render still running after this long is stopped with a TemplateError. Default 10000 ms. */
  timeoutMs?: number;
  /** Stops the render (and its worker) with an AbortError. */
  signal?: AbortSignal;
}

export interface TemplateSandboxOptions {
  /** Worker processes at most; each renders one template at a time. Default 2. */
  maxWorkers?: number;
  /** A worker with nothing to do exits after this long. Default 60000 ms. */
  idleMs?: number;
  /**
   * After a template ran out of time or crashed its worker, renders of the same template text
   * fail at once for this long instead of holding a worker again (a model whose template loops
   * would otherwise keep both workers busy under load, and other models' renders wait). 0: off.
   * Default 30000 ms.
   */
  cooldownMs?: number;
  /**
   * Data-segment cap of each worker (heap, private mappings, V8's reservations: node alone takes
   * about 600 MiB of it). Default 1 GiB, at least 768 MiB.
   */
  memoryBytes?: number;
}

export const DEFAULT_TEMPLATE_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 30_000;

// CommonJS, run with `node -e`: works the same from src/ (tests) and from the bundled dist/.
const WORKER_SOURCE = `'use strict';
process.env.AKACHAT_TEMPLATE_WORKER = '1';
const addon = require(process.argv[1]);
addon.limitMemory(Number(process.argv[2]));
try { require('node:fs').writeFileSync('/proc/self/oom_score_adj', '1000'); } catch {}
process.on('message', (job) => {
  let reply;
  try {
    reply = { id: job.id, text: job.inputs !== undefined
      ? addon.chatTemplateApply(job.template, job.bos, job.eos, job.inputs)
      : addon.renderChatTemplate(job.template, job.bos, job.eos, job.messages, job.addGenerationPrompt) };
  } catch (err) {
    reply = { id: job.id, error: String((err && err.message) || err) };
  }
  process.send(reply);
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
`;

interface Pending {
  id: number;
  job: TemplateJob;
  timeoutMs: number;
  signal?: AbortSignal;
  resolve(text: string): void;
  reject(err: Error): void;
}

type Reply = { ready: true } | { id: number; text?: string; error?: string };

class Worker {
  readonly child: ChildProcess;
  ready = false;
  /** Killed (or dying): takes no more jobs, though its exit may not have been seen yet. */
  closed = false;
  current: Pending | undefined;
  #stderr = '';
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(memoryBytes: number) {
    const addon = addonStatus();  // the worker loads the same file as this process
    if (!addon.ok) throw new AddonLoadError(addon.message);
    this.child = spawn(process.execPath, ['-e', WORKER_SOURCE, addon.path, String(memoryBytes)], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr!.on('data', (chunk: Buffer) => { this.#stderr = (this.#stderr + chunk.toString()).slice(-2000); });
    this.idle(false);  // keeps the process alive until it is ready and the queue is served
  }

  get stderr(): string {
    return this.#stderr.trim();
  }

  /** An idle worker keeps nothing alive and exits after idleMs; a busy one keeps the process alive. */
  idle(isIdle: boolean, idleMs = 0): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    // The process, its IPC channel and its stderr pipe each hold the event loop on their own.
    const channel = this.child.channel as { ref?(): void; unref?(): void } | undefined;
    const stderr = this.child.stderr as Socket | null;
    if (isIdle) {
      this.child.unref();
      channel?.unref?.();
      stderr?.unref();
      if (idleMs > 0) {
        this.#idleTimer = setTimeout(() => this.kill(), idleMs);
        this.#idleTimer.unref();
      }
    } else {
      this.child.ref();
      channel?.ref?.();
      stderr?.ref();
    }
  }

  kill(): void {
    this.closed = true;
    clearTimeout(this.#idleTimer);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A pool of template worker processes; see the file comment. */
export class TemplateSandbox {
  readonly #maxWorkers: number;
  readonly #idleMs: number;
  readonly #memoryBytes: number;
  readonly #cooldownMs: number;
  /** Template text -> when it last timed out or crashed, and why. */
  readonly #failed = new Map<string, { at: number; reason: string }>();
  readonly #workers = new Set<Worker>();
  readonly #queue: Pending[] = [];
  #nextId = 1;

  constructor(options: TemplateSandboxOptions = {}) {
    this.#maxWorkers = options.maxWorkers ?? 2;
    this.#idleMs = options.idleMs ?? 60_000;
    this.#memoryBytes = options.memoryBytes ?? 2 ** 30;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    expectInteger(this.#cooldownMs, 'cooldownMs', 0);
    expectInteger(this.#maxWorkers, 'maxWorkers', 1);
    expectInteger(this.#idleMs, 'idleMs', 0);
    expectInteger(this.#memoryBytes, 'memoryBytes', 768 * 2 ** 20);
  }

  /** Renders in a worker; rejects with TemplateError (template failed, too slow, crashed) or AbortError. */
  render(job: TemplateJob, options: TemplateRenderOptions = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TEMPLATE_TIMEOUT_MS;
    expectInteger(timeoutMs, 'timeoutMs', 1);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new AbortError(abortReason(signal)));
    // llama.cpp's own chatml source (the fallback of models without a template) is fixed code, no
    // caller's: it renders here, without a worker's round trip (bench/ttft.bench.ts).
    if (job.template === 'chatml') return new Promise((resolve) => resolve(renderChatmlJob(job)));
    const failed = this.#failed.get(job.template);
    if (failed && performance.now() - failed.at < this.#cooldownMs) {
      const ago = Math.round((performance.now() - failed.at) / 1000);
      return Promise.reject(new TemplateError(`${failed.reason} (${ago} s ago; not tried again for ${this.#cooldownMs / 1000} s)`, 0, 0));
    }
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { id: this.#nextId++, job, timeoutMs, signal, resolve, reject };
      // Aborted while queued: leave the queue. Aborted while rendering: see #dispatch.
      const onQueuedAbort = () => {
        const i = this.#queue.indexOf(pending);
        if (i >= 0) {
          this.#queue.splice(i, 1);
          reject(new AbortError(abortReason(signal!)));
        }
      };
      signal?.addEventListener('abort', onQueuedAbort, { once: true });
      pending.resolve = (text) => { signal?.removeEventListener('abort', onQueuedAbort); resolve(text); };
      pending.reject = (err) => { signal?.removeEventListener('abort', onQueuedAbort); reject(err); };
      this.#queue.push(pending);
      this.#pump();
    });
  }

  /**
   * Starts a worker now if none is running, so the first render (the first chat after a model
   * load) does not wait for a worker to start (~110 ms). It stops again after `idleMs` unused.
   */
  prewarm(): void {
    if (![...this.#workers].some((w) => !w.closed)) this.#start();
  }

  /** Worker processes running now. */
  get workers(): number {
    return [...this.#workers].filter((w) => !w.closed).length;
  }

  /** Stops every worker; renders in flight fail. The sandbox starts new workers when used again. */
  close(): void {
    for (const worker of this.#workers) worker.kill();
  }

  #pump(): void {
    while (this.#queue.length > 0) {
      const live = [...this.#workers].filter((w) => !w.closed);
      const worker = live.find((w) => w.ready && !w.current);
      if (worker) {
        this.#dispatch(worker, this.#queue.shift()!);
      } else if (live.length < this.#maxWorkers && live.every((w) => w.ready)) {
        this.#start();
        return;
      } else {
        return;
      }
    }
  }

  #start(): void {
    let worker: Worker;
    try {
      worker = new Worker(this.#memoryBytes);
    } catch (err) {
      this.#failQueue(new AkachatError(`The template worker could not start: ${(err as Error).message}`, 'TEMPLATE_WORKER', { cause: err }));
      return;
    }
    this.#workers.add(worker);
    const startTimer = setTimeout(() => worker.kill(), START_TIMEOUT_MS);
    worker.child.on('message', (reply: Reply) => {
      if ('ready' in reply) {
        clearTimeout(startTimer);
        worker.ready = true;
        worker.idle(true, this.#idleMs);
        this.#pump();
        return;
      }
      const pending = worker.current;
      if (!pending || reply.id !== pending.id) return;
      this.#finish(worker);
      if (reply.error !== undefined) pending.reject(templateError(reply.error, this.#memoryBytes));
      else pending.resolve(reply.text ?? '');
    });
    worker.child.on('error', () => worker.kill());
    worker.child.on('exit', (code, signal) => {
      clearTimeout(startTimer);
      this.#workers.delete(worker);
      const pending = worker.current;
      worker.current = undefined;
      if (!worker.ready) {
        const lines = worker.stderr.split('\n').filter(Boolean);
        const reason = lines.find((line) => /error|fatal/i.test(line)) ?? lines.at(-1) ?? `exit ${signal ?? code}`;
        this.#failQueue(new AkachatError(`The template worker could not start: ${reason}`, 'TEMPLATE_WORKER'));
        return;
      }
      if (pending) {
        const reason = `Chat template crashed its worker process (${signal ?? `exit code ${code}`}): it recurses without end or exhausts the renderer`;
        this.#remember(pending.job.template, reason);
        pending.reject(new TemplateError(reason, 0, 0));
      }
      this.#pump();
    });
  }

  #dispatch(worker: Worker, pending: Pending): void {
    worker.current = pending;
    worker.idle(false);
    const stop = (err: Error) => {
      if (worker.current !== pending) return;
      worker.current = undefined;
      worker.kill();  // the only way to stop a render
      this.#workers.delete(worker);
      cleanup();
      pending.reject(err);
      this.#pump();
    };
    const timer = setTimeout(() => {
      const reason = `Chat template did not finish within ${pending.timeoutMs} ms: it loops or recurses without end, or is far too slow`;
      this.#remember(pending.job.template, reason);
      stop(new TemplateError(reason, 0, 0));
    }, pending.timeoutMs);
    const onAbort = () => stop(new AbortError(abortReason(pending.signal!)));
    pending.signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = () => {
      clearTimeout(timer);
      pending.signal?.removeEventListener('abort', onAbort);
    };
    const { resolve, reject } = pending;
    pending.resolve = (text) => { cleanup(); resolve(text); };
    pending.reject = (err) => { cleanup(); reject(err); };
    worker.child.send({ id: pending.id, ...pending.job }, (err) => { if (err) stop(new AkachatError(`The template worker did not take the job: ${err.message}`, 'TEMPLATE_WORKER')); });
  }

  #finish(worker: Worker): void {
    worker.current = undefined;
    worker.idle(true, this.#idleMs);
    queueMicrotask(() => this.#pump());
  }

  #remember(template: string, reason: string): void {
    if (this.#cooldownMs === 0) return;
    const now = performance.now();
    for (const [key, { at }] of this.#failed) if (now - at >= this.#cooldownMs) this.#failed.delete(key);
    if (this.#failed.size >= 64) this.#failed.delete(this.#failed.keys().next().value!);
    this.#failed.set(template, { at: now, reason });
  }

  #failQueue(err: Error): void {
    for (const pending of this.#queue.splice(0)) pending.reject(err);
  }
}

/** A TemplateError for the worker's message, with the template's line and column when it names them. */
function templateError(message: string, memoryBytes: number): TemplateError {
  if (/bad_alloc/.test(message)) {
    return new TemplateError(`Chat template needed more than ${Math.round(memoryBytes / 2 ** 20)} MiB of memory`, 0, 0);
  }
  const at = /line (\d+), column (\d+)/.exec(message);
  return new TemplateError(message.trim(), at ? Number(at[1]) : 0, at ? Number(at[2]) : 0);
}

let shared: TemplateSandbox | undefined;

/** The process-wide sandbox that Model.applyChatTemplate uses. */
export function templateSandbox(): TemplateSandbox {
  shared ??= new TemplateSandbox();
  return shared;
}
