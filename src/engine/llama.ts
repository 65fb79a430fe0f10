import { availableParallelism } from 'node:os';
import { expectInteger } from '../validate.js';
import { loadAddon } from './addon.js';
import type { NativeDevice } from './addon-types.js';

/** Log levels of llama.cpp's log, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const levelNumbers: Record<LogLevel, number> = { debug: 1, info: 2, warn: 3, error: 4 };
const levelNames: Record<number, LogLevel> = { 1: 'debug', 2: 'info', 3: 'warn', 4: 'error' };

export type Logger = (level: LogLevel, line: string) => void;

/**
 * Forwards llama.cpp's log to `logger` for lines at or above `level` (default `'warn'`).
 * Silent by default: nothing is ever printed unless a logger is set. `null` turns it off.
 */
export function setLogger(logger: Logger | null, level: LogLevel = 'warn'): void {
  const addon = loadAddon();
  if (logger === null) {
    addon.setLogger(null);
    return;
  }
  addon.setLogger((n, line) => logger(levelNames[n] ?? 'info', line), levelNumbers[level]);
}

export interface SystemInfo {
  /** llama.cpp's feature line (CPU features such as AVX2, the backends compiled in). */
  llama: string;
  /** CPU feature names that are on, parsed from `llama`. */
  cpuFeatures: string[];
  supportsGpuOffload: boolean;
  supportsMmap: boolean;
  /** Physical cores (performance cores on hybrid CPUs): llama.cpp's own default thread count. */
  mathCores: number;
  /** True when the addon was built with CUDA. */
  cuda: boolean;
  devices: NativeDevice[];
}

/** What the compiled-in llama.cpp can use on this machine. */
export function systemInfo(): SystemInfo {
  const addon = loadAddon();
  const info = addon.systemInfo();
  const cpuFeatures = [...info.llama.matchAll(/([A-Z0-9_]+) = 1/g)].map((m) => m[1]);
  return { ...info, cpuFeatures, cuda: addon.cuda };
}

let defaultThreadCount: number | undefined;

/**
 * CPU threads a context uses unless told otherwise: the physical cores this process may use
 * (hyper-threads only slow llama.cpp's matrix kernels) minus one, left to the JavaScript thread
 * and to whatever else runs on the machine. ggml's compute threads spin while they wait for each
 * other; when another process takes one of their cores, a pool as wide as the machine stalls on
 * it at every step (measured 11-35x slower than one thread on a busy 2-core VM; see
 * bench/contention.bench.ts), while a pool one core narrower keeps going. `AKACHAT_THREADS`
 * overrides it.
 */
export function defaultThreads(): number {
  if (defaultThreadCount === undefined) {
    const fromEnv = process.env.AKACHAT_THREADS;
    if (fromEnv !== undefined && fromEnv !== '') {
      defaultThreadCount = expectInteger(Number(fromEnv), 'AKACHAT_THREADS', 1, 1024);
    } else {
      const cores = Math.max(1, Math.min(loadAddon().systemInfo().mathCores || Infinity, availableParallelism()));
      defaultThreadCount = Math.max(1, cores - 1);
    }
  }
  return defaultThreadCount;
}
