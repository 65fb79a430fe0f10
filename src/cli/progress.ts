/**
 * Progress for long commands: a live bar (cli-progress) on a terminal, plain lines otherwise
 * (logs, CI, tests), with the same numbers in both: done/total, speed and ETA measured from the
 * first update (so a resumed download's earlier bytes do not count as speed).
 */
import cliProgress from 'cli-progress';
import type { ModelEvent } from '../llm/model-manager.js';
import { formatBytes, formatDuration, modelProgressPrinter, type CliIo } from './io.js';

export interface ProgressOptions {
  label: string;
  /** `bytes` shows sizes and speed; `items` shows counts. */
  unit: 'bytes' | 'items';
  /** Plain lines: at most one per this many ms (besides the first and the last). Default 1000. */
  lineIntervalMs?: number;
}

export interface Progress {
  /** `total` undefined = unknown (no bar, no ETA); `detail` is shown at the end of the line. */
  update(done: number, total: number | undefined, detail?: string): void;
  /** Ends the bar (or prints the last plain line). */
  stop(): void;
}

export function progressBar(io: CliIo, options: ProgressOptions): Progress {
  const interval = options.lineIntervalMs ?? 1000;
  let first: { at: number; done: number } | undefined;
  let last = { done: 0, total: undefined as number | undefined, detail: '' };
  let lastLineAt = 0;
  let unprinted = false;
  let bar: cliProgress.SingleBar | undefined;
  const amount = (n: number) => (options.unit === 'bytes' ? formatBytes(n) : String(n));

  const describe = () => {
    const { done, total, detail } = last;
    const elapsed = first ? performance.now() - first.at : 0;
    const rate = first && elapsed > 200 ? (done - first.done) / (elapsed / 1000) : undefined;
    const parts = [total ? `${amount(done)}/${amount(total)}` : amount(done)];
    if (options.unit === 'bytes' && rate !== undefined) parts.push(`${formatBytes(rate)}/s`);
    if (total && rate && done < total) parts.push(`ETA ${formatDuration(((total - done) / rate) * 1000)}`);
    else if (elapsed > 0) parts.push(formatDuration(elapsed));
    if (detail) parts.push(detail);
    return parts.join(' | ');
  };

  const printLine = () => {
    const percent = last.total ? ` ${Math.floor((last.done / last.total) * 100)}%` : '';
    io.err(`${options.label}${percent}: ${describe()}`);
    lastLineAt = performance.now();
    unprinted = false;
  };

  return {
    update(done, total, detail = '') {
      first ??= { at: performance.now(), done };
      last = { done, total, detail };
      if (!io.terminal) {
        unprinted = true;
        if (lastLineAt === 0 || performance.now() - lastLineAt >= interval) printLine();
        return;
      }
      if (!bar) {
        bar = new cliProgress.SingleBar({
          stream: io.terminal,
          format: total ? `${options.label} [{bar}] {percentage}% | {text}` : `${options.label} | {text}`,
          hideCursor: true,
          etaBuffer: 50,
        }, cliProgress.Presets.shades_classic);
        bar.start(total ?? 1, total ? done : 0, { text: describe() });
      }
      if (total) bar.setTotal(total);
      bar.update(total ? done : 0, { text: describe() });
    },
    stop() {
      if (bar) bar.stop();
      else if (unprinted) printLine();
    },
  };
}

/** For work without progress reports (quantize): elapsed time, live on a terminal. */
export function spinner(io: CliIo, label: string): { stop(): void } {
  const started = performance.now();
  const elapsed = () => formatDuration(performance.now() - started);
  if (!io.terminal) {
    io.err(`${label}...`);
    return { stop: () => io.err(`${label}: done in ${elapsed()}`) };
  }
  const bar = new cliProgress.SingleBar({ stream: io.terminal, format: `${label} {spinner} {elapsed}`, hideCursor: true });
  const frames = ['|', '/', '-', '\\'];
  let frame = 0;
  bar.start(1, 0, { spinner: frames[0], elapsed: elapsed() });
  const timer = setInterval(() => bar.update(0, { spinner: frames[++frame % frames.length], elapsed: elapsed() }), 150);
  return {
    stop() {
      clearInterval(timer);
      bar.update(1, { spinner: 'done', elapsed: elapsed() });
      bar.stop();
    },
  };
}

/** Model events of a command that runs models: a progress bar per download, lines for the rest. */
export function modelEventPrinter(io: CliIo): (event: ModelEvent) => void {
  const bars = new Map<string, Progress>();
  const lines = modelProgressPrinter(io.err);
  return (event) => {
    if (event.type !== 'download') return lines(event);
    const { file, downloadedBytes, totalBytes } = event.progress;
    let bar = bars.get(file);
    if (!bar) bars.set(file, (bar = progressBar(io, { label: `downloading ${file}`, unit: 'bytes' })));
    bar.update(downloadedBytes, totalBytes);
    if (totalBytes !== undefined && downloadedBytes >= totalBytes) {
      bar.stop();
      bars.delete(file);
    }
  };
}
