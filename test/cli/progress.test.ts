import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progressBar } from '../../src/cli/progress.js';
import { memoryIo } from './helpers.js';

/** A terminal stand-in: cli-progress draws only on a TTY. */
function fakeTerminal() {
  let written = '';
  const stream = new Writable({ write: (chunk, _encoding, done) => ((written += chunk.toString()), done()) }) as Writable & { isTTY: boolean; columns: number };
  stream.isTTY = true;
  stream.columns = 160;
  return { stream: stream as unknown as NodeJS.WriteStream, written: () => written };
}

describe('progress', () => {
  it('draws a bar with percent, amounts, speed and ETA on a terminal', async () => {
    const terminal = fakeTerminal();
    const { io, err } = memoryIo();
    io.terminal = terminal.stream;
    const bar = progressBar(io, { label: 'pull', unit: 'bytes' });
    bar.update(0, 4 * 2 ** 20, 'model.gguf');
    await new Promise((resolve) => setTimeout(resolve, 300));
    bar.update(2 ** 20, 4 * 2 ** 20, 'model.gguf');
    bar.stop();
    expect(err).toEqual([]); // nothing as plain lines
    expect(terminal.written()).toMatch(/pull \[[^\]]+\] 25% \| 1\.0 MiB\/4\.0 MiB \| [\d.]+ (MiB|KiB)\/s \| ETA [\d.]+s \| model\.gguf/);
  });

  it('prints plain lines off a terminal: the first, then at most one per interval, and the last', () => {
    const { io, err } = memoryIo();
    const bar = progressBar(io, { label: 'batch', unit: 'items', lineIntervalMs: 60_000 });
    for (let done = 0; done <= 10; done++) bar.update(done, 10, `cell ${done}`);
    bar.stop();
    expect(err).toHaveLength(2);
    expect(err[0]).toMatch(/^batch 0%: 0\/10 \| .*cell 0$/);
    expect(err[1]).toMatch(/^batch 100%: 10\/10 \| .*cell 10$/);
  });

  it('shows amounts without a bar when the total is unknown', () => {
    const { io, err } = memoryIo();
    const bar = progressBar(io, { label: 'pull', unit: 'bytes' });
    bar.update(3 * 1024, undefined);
    bar.stop();
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^pull: 3.0 KiB \| [\d.]+s$/);
  });
});
