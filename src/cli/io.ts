/**
 * What every command shares: where it writes and reads (CliIo, injectable so commands run
 * in-process in tests), usage errors, number formatting and the model-event printer.
 */
import { statSync } from 'node:fs';
import type { ModelEvent } from '../llm/model-manager.js';

/** A wrong flag or value: printed with a hint, exit code 2. */
export class UsageError extends Error {}

/** Where the CLI writes and what it reads; tests pass their own. */
export interface CliIo {
  /** A line on stdout. */
  out(line: string): void;
  /** A line on stderr (messages, plain progress lines). */
  err(line: string): void;
  /** Text on stdout without a line break (streamed replies). Default: process.stdout. */
  write?(text: string): void;
  /** Where `chat` reads its turns and `run -` its input. Default: process.stdin. */
  stdin?: NodeJS.ReadableStream;
  /** A terminal for live progress bars and chat's line editing; undefined = plain lines. Default: stderr when it is a TTY. */
  terminal?: NodeJS.WriteStream;
  env: Record<string, string | undefined>;
  /** Calls `stop` on Ctrl-C / SIGTERM (once). Default: process signals; a second Ctrl-C exits at once. */
  onStop(stop: () => void): void;
  /**
   * Calls `handler` on every Ctrl-C until the returned function is called (chat: the first stops
   * the reply, not the program). Default: process SIGINT.
   */
  onInterrupt?(handler: () => void): () => void;
}

/** Exit code after Ctrl-C, as shells report SIGINT. */
export const INTERRUPTED = 130;

/** The io of the real process. */
export function processIo(): CliIo {
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    write: (text) => void process.stdout.write(text),
    stdin: process.stdin,
    terminal: process.stderr.isTTY ? process.stderr : undefined,
    env: process.env,
    onStop(stop) {
      let stopping = false;
      const handler = () => {
        if (stopping) process.exit(INTERRUPTED); // a second Ctrl-C: stop now
        stopping = true;
        stop();
      };
      process.on('SIGINT', handler);
      process.on('SIGTERM', handler);
    },
    onInterrupt(handler) {
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
  };
}

/** `write`, falling back to process.stdout. */
export function writer(io: CliIo): (text: string) => void {
  return io.write ?? ((text) => void process.stdout.write(text));
}

/** An AbortSignal that fires on Ctrl-C (or SIGTERM); a second Ctrl-C exits at once. */
export function stopSignal(io: CliIo): AbortSignal {
  const controller = new AbortController();
  io.onStop(() => controller.abort(new Error('Stopped by Ctrl-C')));
  return controller.signal;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Left-aligned columns with two spaces between them. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]))).join('  ')).join('\n');
}

/** Prints downloads and quantizations, at most one line per 10% step. */
export function modelProgressPrinter(print: (line: string) => void): (event: ModelEvent) => void {
  const lastStep = new Map<string, number>();
  return (event) => {
    if (event.type === 'download') {
      const { downloadedBytes, totalBytes, file } = event.progress;
      if (!totalBytes) return;
      const step = Math.floor((downloadedBytes / totalBytes) * 10);
      if (lastStep.get(file) === step) return;
      lastStep.set(file, step);
      print(`Downloading ${file}: ${step * 10}% of ${(totalBytes / 2 ** 20).toFixed(0)} MiB`);
    } else if (event.type === 'quantize') {
      print(`Quantizing ${event.model} to ${event.to} (once; the result is cached)...`);
    } else if (event.type === 'unload') {
      print(`Unloaded ${event.model}`);
    }
  };
}

export function statOf(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
