/**
 * Batch: compare LLMs as the original akachat's batch tab did (every saved prompt x models x
 * temperatures), plus inputs, repeats, checks and reports. Cells are ordered model by model, so
 * each model is loaded once (one resident model at a time: any other order reloads it per cell).
 * Stored prompts and presets are never changed: a cell's model and temperature are per-call
 * overrides. A failed cell is recorded with its error and the run goes on. Every finished cell is
 * appended to a journal (`log/batch_*.jsonl`) as it finishes, so a killed run loses nothing and
 * `resume` skips the cells already done.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Akachat } from '../akachat.js';
import { InvalidArgumentError } from '../errors.js';
import type { RawOptions } from '../prompt/options.js';
import { redactOptions } from '../settings/redact.js';
import { writeFileAtomic } from '../data/atomic.js';
import { expectInteger, expectNumber, expectString, invalid } from '../validate.js';
import { checkName, judgeInput, judgeVerdict, parseChecks, runPlainCheck, type Check, type CheckResult } from './checks.js';
import { batchStamp, cellKey, originalLogEntry, summarize, toCsv, toHtml, toMarkdown, type BatchCell, type BatchSummary, type CellResult } from './reports.js';

export interface BatchOptions {
  /** Saved prompt names. Default: every saved prompt (sub-folders included), as the original. */
  prompts?: readonly string[];
  /**
   * Models to compare: GGUF paths, `hf:` references, presets (`models.json`), or remote model
   * names for prompts whose provider is `openai`. `''` = the prompt's own model. Default `['']`.
   */
  models?: readonly string[];
  /** Temperatures; the original took them space-separated. Default `[0.7]`. */
  temperatures?: readonly number[] | string;
  /** Inputs given to every prompt. Default `['']`. */
  inputs?: readonly string[];
  /** Runs of each cell (useful above temperature 0). Default 1. */
  repeats?: number;
  /** Further option overrides for every cell (e.g. `max_new_tokens`, `seed`). */
  overrides?: RawOptions;
  /** Checks on every cell's output. */
  checks?: readonly Check[];
  /** Name of the run's files (`log/<name>.log`, ...). Default `batch_YYYY-MM-DD_HH-MM-SS` of the start. */
  name?: string;
  /** Cells of one model that run at once. Default: the model manager's `parallel` (its contexts' slots). */
  concurrency?: number;
}

export interface BatchProgress {
  done: number;
  total: number;
  /** Cells skipped because a resumed journal had them. */
  skipped: number;
  /** The cell that just finished (undefined for the judge phase's steps). */
  result?: CellResult;
  phase: 'generate' | 'judge';
  elapsedMs: number;
  /** Estimated time left, from the mean time of the cells run so far. */
  etaMs?: number;
}

export interface BatchRunOptions {
  signal?: AbortSignal;
  onProgress?: (progress: BatchProgress) => void;
  /** A journal (`log/batch_*.jsonl`) of an earlier run of the same batch: its finished cells are kept, not run again. */
  resume?: string;
}

/** Paths of a run's files, inside the data folder's `log/`. */
export interface BatchFiles {
  log: string;
  journal: string;
  json: string;
  csv: string;
  markdown: string;
  html: string;
}

export interface BatchReport {
  summary: BatchSummary;
  results: CellResult[];
  files: BatchFiles;
}

export class Batch {
  readonly #akachat: Akachat;
  readonly #options: BatchOptions;
  readonly temperatures: number[];
  #startedAt = new Date();
  #files?: BatchFiles;
  #cancelled = false;

  constructor(akachat: Akachat, options: BatchOptions = {}) {
    this.#akachat = akachat;
    this.#options = options;
    this.temperatures = parseTemperatures(options.temperatures ?? [0.7]);
    if (options.repeats !== undefined) expectInteger(options.repeats, 'repeats', 1, 1000);
    if (options.concurrency !== undefined) expectInteger(options.concurrency, 'concurrency', 1, 256);
    for (const [i, model] of (options.models ?? []).entries()) expectString(model, `models[${i}]`);
    for (const [i, input] of (options.inputs ?? []).entries()) expectString(input, `inputs[${i}]`);
    parseChecks(options.checks);
  }

  /** Every cell, in run order: model by model, then prompt, input, temperature, repeat. */
  async cells(): Promise<BatchCell[]> {
    const prompts = this.#options.prompts ? [...this.#options.prompts] : await this.#akachat.prompts.list();
    if (prompts.length === 0) throw new InvalidArgumentError('This batch has no prompts: save a prompt first, or list prompts to run');
    const models = this.#options.models?.length ? this.#options.models : [''];
    const inputs = this.#options.inputs?.length ? this.#options.inputs : [''];
    const repeats = this.#options.repeats ?? 1;
    const cells: BatchCell[] = [];
    for (const model of models) {
      for (const prompt of prompts) {
        for (const input of inputs) {
          for (const temperature of this.temperatures) {
            for (let repeat = 0; repeat < repeats; repeat++) cells.push({ prompt, model, temperature, input, repeat });
          }
        }
      }
    }
    return cells;
  }

  /**
   * Runs every cell, yielding each result as it finishes, then the judge checks (if any), then
   * writes the reports. The returned iterable's `report` resolves when everything is written;
   * on abort the cells done so far are reported (`summary.cancelled`) and `report` resolves too.
   */
  run(options: BatchRunOptions = {}): AsyncIterable<CellResult> & { readonly report: Promise<BatchReport> } {
    let resolveReport!: (report: BatchReport) => void;
    let rejectReport!: (error: unknown) => void;
    const report = new Promise<BatchReport>((resolve, reject) => {
      resolveReport = resolve;
      rejectReport = reject;
    });
    report.catch(() => {});
    const self = this;
    async function* results(): AsyncGenerator<CellResult> {
      try {
        const done: CellResult[] = [];
        for await (const result of self.#run(options, done)) yield result;
        resolveReport(await self.#finish(done, options));
      } catch (error) {
        rejectReport(error);
        throw error;
      }
    }
    const iterable = results();
    return { [Symbol.asyncIterator]: () => iterable, report };
  }

  /** Runs to the end and returns the report. */
  async runAll(options: BatchRunOptions = {}): Promise<BatchReport> {
    const run = this.run(options);
    for await (const _ of run) { /* results also reach onProgress */ }
    return run.report;
  }

  /** Whether judge checks run after generation (a cell's verdict is final only at the end). */
  get hasJudgeChecks(): boolean {
    return (this.#options.checks ?? []).some((check) => check.type === 'judge');
  }

  /** The run's file paths (known once run() has started). */
  get files(): BatchFiles | undefined {
    return this.#files;
  }

  async *#run(options: BatchRunOptions, done: CellResult[]): AsyncGenerator<CellResult> {
    const { signal, onProgress } = options;
    this.#startedAt = new Date();
    this.#cancelled = false;
    const name = this.#options.name ?? batchStamp(this.#startedAt);
    if (!/^[\w.-]+$/.test(name)) throw invalid('a file name of letters, digits, _ . -', 'name', name);
    const logDir = join(this.#akachat.dataDir, 'log');
    this.#files = {
      log: join(logDir, `${name}.log`),
      journal: join(logDir, `${name}.jsonl`),
      json: join(logDir, `${name}.json`),
      csv: join(logDir, `${name}.csv`),
      markdown: join(logDir, `${name}.md`),
      html: join(logDir, `${name}.html`),
    };
    await mkdir(logDir, { recursive: true });
    const cells = await this.cells();
    const previous = options.resume ? await readJournal(options.resume) : new Map<string, CellResult>();
    const checks = parseChecks(this.#options.checks);
    const plain = checks.filter((c): c is Exclude<Check, { type: 'judge' }> => c.type !== 'judge');
    const started = performance.now();
    let ran = 0;
    let skipped = 0;

    // Cells of one model run up to `concurrency` at once (one per slot of its context); the next
    // model starts only when the last one's cells are done, so each model is loaded once.
    const concurrency = this.#options.concurrency ?? this.#akachat.models.parallel;
    for (const group of groupByModel(cells)) {
      const waiting = [...group];
      const running = new Map<number, Promise<{ id: number; result: CellResult; earlier?: CellResult }>>();
      let nextId = 0;
      // The journal (for resume) takes each cell as it ends; the original log layout lists them
      // in the batch's order, so a cell that ends before an earlier one waits for it there
      // (entry '': nothing to write for that cell).
      const unlogged = new Map<number, string>();
      let nextToLog = 0;
      const log = this.#files.log;
      const logInOrder = async (id: number, entry: string) => {
        unlogged.set(id, entry);
        for (let next = unlogged.get(nextToLog); next !== undefined; next = unlogged.get(nextToLog)) {
          if (next !== '') await appendFile(log, next, 'utf8');
          unlogged.delete(nextToLog++);
        }
      };
      const launch = (cell: BatchCell) => {
        const id = nextId++;
        const key = cellKey(cell);
        const earlier = previous.get(key);
        const task = earlier && earlier.error === undefined
          ? Promise.resolve({ id, result: earlier, earlier })
          : this.#runCell(cell, key, plain, signal).then((result) => ({ id, result }));
        running.set(id, task);
      };
      for (;;) {
        while (running.size < concurrency && waiting.length > 0 && !signal?.aborted) launch(waiting.shift()!);
        if (running.size === 0) break;
        const { id, result, earlier } = await Promise.race(running.values());
        running.delete(id);
        if (earlier) {
          skipped++;
        } else {
          ran++;
          if (result.error !== undefined && signal?.aborted) {
            await logInOrder(id, ''); // cut short by the cancel: not a result
            continue;
          }
        }
        done.push(result);
        // A run resumed under its own name already has the earlier cells in its files.
        const alreadyWritten = result === earlier && options.resume === this.#files.journal;
        if (!alreadyWritten) await appendFile(this.#files.journal, JSON.stringify(result) + '\n', 'utf8');
        await logInOrder(id, alreadyWritten ? '' : originalLogEntry(result));
        const elapsedMs = performance.now() - started;
        const remaining = cells.length - done.length;
        onProgress?.({ done: done.length, total: cells.length, skipped, result, phase: 'generate', elapsedMs, etaMs: ran > 0 ? (elapsedMs / ran) * remaining : undefined });
        yield result;
      }
      if (signal?.aborted) {
        this.#cancelled = true;
        break;
      }
    }
    // Reports list the cells in the batch's order, whatever order they finished in.
    const order = new Map(cells.map((cell, index) => [cellKey(cell), index]));
    done.sort((a, b) => order.get(a.key)! - order.get(b.key)!);

    const judges = checks.filter((c): c is Extract<Check, { type: 'judge' }> => c.type === 'judge');
    if (judges.length > 0 && !this.#cancelled) await this.#judge(done, judges, options, started);
  }

  async #runCell(cell: BatchCell, key: string, checks: Exclude<Check, { type: 'judge' }>[], signal?: AbortSignal): Promise<CellResult> {
    const overrides: RawOptions = { ...this.#options.overrides, temperature: cell.temperature, ...(cell.model ? { model: cell.model } : {}) };
    const base: CellResult = { ...cell, key, options: {}, instruction: '', output: '', promptTokens: 0, completionTokens: 0, durationMs: 0, checks: [], pass: false };
    const started = performance.now();
    try {
      const prompt = await this.#akachat.prompt(cell.prompt);
      const run = await prompt.run(cell.input, { overrides, signal });
      const generationMs = run.timings?.generationMs;
      const result: CellResult = {
        ...base,
        options: run.options,
        instruction: run.instruction,
        output: run.text,
        stopReason: run.stopReason,
        modelUsed: run.model,
        promptTokens: run.usage.promptTokens,
        completionTokens: run.usage.completionTokens,
        firstTokenMs: run.firstTokenMs,
        tokensPerSecond: tokensPerSecond(run.usage.completionTokens, generationMs ?? run.durationMs - (run.firstTokenMs ?? 0)),
        durationMs: run.durationMs,
      };
      for (const check of checks) result.checks.push(await runPlainCheck(check, result.output, cell));
      result.pass = result.checks.every((c) => c.pass);
      return result;
    } catch (error) {
      return { ...base, options: redactOptions(overrides), error: error instanceof Error ? error.message : String(error), durationMs: performance.now() - started };
    }
  }

  /** Runs the judge prompts over every finished cell (after generation: the judge's model loads once). */
  async #judge(results: CellResult[], judges: Extract<Check, { type: 'judge' }>[], options: BatchRunOptions, started: number): Promise<void> {
    const total = results.length * judges.length;
    let step = 0;
    for (const check of judges) {
      const prompt = await this.#akachat.prompt(check.prompt);
      for (const result of results) {
        if (options.signal?.aborted) {
          this.#cancelled = true;
          return;
        }
        let verdict: CheckResult;
        if (result.error !== undefined) {
          verdict = { name: checkName(check), pass: false, message: 'the cell failed' };
        } else {
          try {
            const reply = await prompt.run(judgeInput(result, result.output), { signal: options.signal, noLog: true });
            verdict = judgeVerdict(check, reply.text);
          } catch (error) {
            if (options.signal?.aborted) {
              this.#cancelled = true;
              return;
            }
            verdict = { name: checkName(check), pass: false, message: `the judge failed: ${(error as Error).message}` };
          }
        }
        result.checks.push(verdict);
        result.pass = result.error === undefined && result.checks.every((c) => c.pass);
        step++;
        options.onProgress?.({ done: step, total, skipped: 0, phase: 'judge', elapsedMs: performance.now() - started });
      }
    }
  }

  async #finish(results: CellResult[], options: BatchRunOptions): Promise<BatchReport> {
    const summary = summarize(results, this.#startedAt, this.#cancelled || options.signal?.aborted === true);
    const files = this.#files!;
    await writeFileAtomic(files.json, JSON.stringify({ summary, batch: describeBatch(this.#options, this.temperatures), results }, null, 2));
    await writeFileAtomic(files.csv, toCsv(results));
    await writeFileAtomic(files.markdown, toMarkdown(results, summary));
    await writeFileAtomic(files.html, toHtml(results, summary));
    return { summary, results, files };
  }
}

/** Consecutive cells of the same model (cells come model by model). */
function groupByModel(cells: readonly BatchCell[]): BatchCell[][] {
  const groups: BatchCell[][] = [];
  for (const cell of cells) {
    const last = groups.at(-1);
    if (last && last[0].model === cell.model) last.push(cell);
    else groups.push([cell]);
  }
  return groups;
}

/** `0.1 0.7` (the original's space-separated field), or an array of numbers. */
export function parseTemperatures(value: readonly number[] | string): number[] {
  const list = typeof value === 'string' ? value.trim().split(/[\s,]+/).filter(Boolean).map(Number) : [...value];
  if (list.length === 0) throw invalid('at least one temperature', 'temperatures', value);
  return list.map((t, i) => expectNumber(t, `temperatures[${i}]`, 0, 100));
}

function tokensPerSecond(tokens: number, ms: number): number | undefined {
  return tokens > 0 && ms > 0 ? +(tokens / (ms / 1000)).toFixed(2) : undefined;
}

/** The batch's settings for the JSON report (custom checks by name only). */
function describeBatch(options: BatchOptions, temperatures: number[]) {
  return {
    prompts: options.prompts ?? 'all',
    models: options.models ?? [''],
    temperatures,
    inputs: options.inputs ?? [''],
    repeats: options.repeats ?? 1,
    overrides: redactOptions(options.overrides ?? {}),
    checks: (options.checks ?? []).map(checkName),
  };
}

/** The cells of an earlier run's journal, by key (a torn last line is ignored). */
async function readJournal(path: string): Promise<Map<string, CellResult>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  const cells = new Map<string, CellResult>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const result = JSON.parse(line) as CellResult;
      if (typeof result.key === 'string') cells.set(result.key, result);
    } catch {
      // a line torn by a crash: that cell runs again
    }
  }
  return cells;
}

