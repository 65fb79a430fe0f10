/**
 * Admission to the local model's slots. Its context runs `concurrency` generations at once (one
 * per slot), so that many requests hold a turn and the rest wait in arrival order; the line is
 * bounded so that a burst gets a fast 503 with `Retry-After` instead of piling up connections,
 * and a request whose client left (or whose timeout fired) leaves the line at once.
 */
import { AbortError, BusyError, abortReason } from '../errors.js';
import { expectInteger } from '../validate.js';

export interface GenerationQueueOptions {
  /** Requests that may wait for a turn (not counting the running ones). Default 16. */
  maxWaiting?: number;
  /**
   * Requests that run at once: the slots of the local model's context (ModelManager
   * `parallel`). A function is asked again whenever a turn may be granted. Default 1.
   */
  concurrency?: number | (() => number);
}

/** A turn in the queue; `release()` (idempotent) lets the next request in. */
export interface QueueTurn {
  release(): void;
}

interface Waiter {
  grant: (turn: QueueTurn) => void;
  fail: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** How many recent run times the `Retry-After` estimate averages over. */
const RECENT_RUNS = 8;

export class GenerationQueue {
  readonly maxWaiting: number;
  readonly #concurrency: () => number;
  #running = 0;
  readonly #waiting: Waiter[] = [];
  readonly #recentMs: number[] = [];

  constructor(options: GenerationQueueOptions = {}) {
    this.maxWaiting = expectInteger(options.maxWaiting ?? 16, 'maxWaiting', 0);
    const concurrency = options.concurrency ?? 1;
    if (typeof concurrency === 'function') {
      this.#concurrency = () => expectInteger(concurrency(), 'concurrency', 1);
    } else {
      expectInteger(concurrency, 'concurrency', 1);
      this.#concurrency = () => concurrency;
    }
  }

  /** Requests that may hold a turn at once now. */
  get concurrency(): number {
    return this.#concurrency();
  }

  /** Requests holding a turn now. */
  get running(): number {
    return this.#running;
  }

  /** Requests waiting for a turn now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Waits for a turn. Throws BusyError (HTTP: 503 with `Retry-After`) at once when the line is full,
   * and AbortError when `signal` fires while waiting (the request leaves the line).
   */
  acquire(signal?: AbortSignal): Promise<QueueTurn> {
    if (signal?.aborted) return Promise.reject(new AbortError(abortReason(signal)));
    if (this.#running < this.concurrency && this.#waiting.length === 0) return Promise.resolve(this.#grant());
    if (this.#waiting.length >= this.maxWaiting) {
      const seconds = this.retryAfterSeconds();
      return Promise.reject(new BusyError(
        `The server is busy: ${this.#running} request(s) running and ${this.#waiting.length} waiting (the most allowed); retry in about ${seconds} s`,
        seconds,
      ));
    }
    return new Promise<QueueTurn>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, fail: reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const index = this.#waiting.indexOf(waiter);
          if (index !== -1) this.#waiting.splice(index, 1);
          reject(new AbortError(abortReason(signal)));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiting.push(waiter);
      this.#next(); // the slot count may have grown since the last turn ended
    });
  }

  /** Seconds a client should wait before retrying: the line's expected drain time, at least 1. */
  retryAfterSeconds(): number {
    const average = this.#recentMs.length ? this.#recentMs.reduce((a, b) => a + b, 0) / this.#recentMs.length : 1000;
    const ahead = this.#waiting.length + this.#running;
    return Math.max(1, Math.ceil((average * ahead) / this.concurrency / 1000));
  }

  #grant(): QueueTurn {
    this.#running++;
    const started = performance.now();
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#recentMs.push(performance.now() - started);
        if (this.#recentMs.length > RECENT_RUNS) this.#recentMs.shift();
        this.#running--;
        this.#next();
      },
    };
  }

  #next(): void {
    while (this.#running < this.concurrency && this.#waiting.length > 0) {
      const waiter = this.#waiting.shift()!;
      if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.grant(this.#grant());
    }
  }
}
