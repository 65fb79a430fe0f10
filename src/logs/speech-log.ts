import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** One prompt call as the speech logs record it. */
export interface SpeechLogEntry {
  instruction: string;
  output: string;
  /** Messages (messages mode) or the filled template text (template mode). */
  sent: unknown;
  options: unknown;
  durationMs: number;
  detail: unknown;
}

function localDate(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * `log/speech/YYYY-MM-DD.txt` (`========`, evaluated instruction, `--------`, output) and
 * `.log` (`========`, messages JSON, options JSON, duration, detail), as the original wrote
 * them. Appends are serialised so entries never interleave.
 */
export class SpeechLog {
  readonly folder: string;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(dataFolder: string) {
    this.folder = join(dataFolder, 'log', 'speech');
  }

  append(entry: SpeechLogEntry, now = new Date()): Promise<void> {
    const day = localDate(now);
    const text = `========\n${entry.instruction}\n--------\n${entry.output}\n`;
    const log = `========\n${JSON.stringify(entry.sent)}\n${JSON.stringify(entry.options)}\n${(entry.durationMs / 1000).toFixed(3)}\n${JSON.stringify(entry.detail)}\n`;
    const run = this.#queue.then(async () => {
      await mkdir(this.folder, { recursive: true });
      await appendFile(join(this.folder, `${day}.txt`), text, 'utf8');
      await appendFile(join(this.folder, `${day}.log`), log, 'utf8');
    });
    this.#queue = run.catch(() => {});
    return run;
  }
}
