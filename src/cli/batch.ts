/**
 * `akachat batch [file]`: every prompt x model x temperature x input, from flags or a JSON /
 * YAML file (flags win), with a live progress bar, the summary table and the report paths.
 * Exit code 1 when a check fails or a cell errors, so CI can gate on it; 130 when cancelled.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import type { Batch, BatchOptions } from '../batch/batch.js';
import { modelLabel } from '../batch/reports.js';
import { InvalidArgumentError } from '../errors.js';
import type { RawOptions } from '../prompt/options.js';
import { formatDuration, INTERRUPTED, stopSignal, table, UsageError, type CliIo } from './io.js';
import { addAkachatOptions, integerArg, isPathLike, jsonObjectArg, openAkachat, repeatable, type AkachatFlags } from './options.js';
import { progressBar } from './progress.js';
import { checkedModel } from './serve.js';

interface BatchFlags extends AkachatFlags {
  prompts?: string[];
  models?: string[];
  temperatures?: string;
  inputs?: string[];
  repeats?: number;
  checks?: string;
  maxTokens?: number;
  seed?: number;
  options?: RawOptions;
  name?: string;
  resume?: string;
}

const FILE_KEYS = ['prompts', 'models', 'temperatures', 'inputs', 'repeats', 'overrides', 'checks', 'name'];

const list = (value: string, previous: string[] = []) => [...previous, ...value.split(',').map((item) => item.trim()).filter(Boolean)];

export function registerBatch(program: Command, io: CliIo, exit: (code: number) => void): void {
  const command = program
    .command('batch')
    .description('compare prompts x models x temperatures x inputs, with checks and reports in log/ (exit 1 when a check fails)')
    .argument('[file]', `a JSON or YAML file with ${FILE_KEYS.join(', ')} (flags win over it)`)
    .option('--prompts <names>', 'saved prompts, comma-separated, repeatable (default: every saved prompt)', list)
    .option('--models <models>', 'GGUF paths, hf: references or presets, comma-separated, repeatable (default: each prompt\'s own)', list)
    .option('--temperatures <list>', 'temperatures, space-separated as in the original, e.g. "0.1 0.7" (default 0.7)')
    .option('--inputs <text>', 'an input given to every prompt (repeat the flag for more)', repeatable)
    .option('--repeats <n>', 'runs of each cell (default 1)', integerArg(1))
    .option('--checks <json>', 'checks on every output, e.g. \'[{"type":"contains","value":"Paris"}]\' (contains, regex, equals, maxLength, isJson, judge)')
    .option('-n, --max-tokens <n>', 'most tokens per cell', integerArg(1))
    .option('--seed <n>', 'sampling seed for every cell', integerArg(-1))
    .option('--options <json>', 'further option overrides for every cell, as JSON', jsonObjectArg)
    .option('--name <name>', 'name of the report files in log/ (default batch_YYYY-MM-DD_HH-MM-SS)')
    .option('--resume <journal>', 'a journal (log/batch_*.jsonl) of an earlier run: its finished cells are kept');
  addAkachatOptions(command);
  command.action(async (file: string | undefined, flags: BatchFlags) => exit(await runBatch(file, flags, io)));
}

/** The batch's options: the file's, then the flags over them. Bad values are usage errors. */
export async function batchOptions(file: string | undefined, flags: BatchFlags): Promise<BatchOptions> {
  const fromFile = file === undefined ? {} : await readBatchFile(file);
  const overrides: RawOptions = { ...(fromFile.overrides as RawOptions | undefined), ...flags.options };
  if (flags.maxTokens !== undefined) overrides.max_new_tokens = flags.maxTokens;
  if (flags.seed !== undefined) overrides.seed = flags.seed;
  let checks = fromFile.checks;
  if (flags.checks !== undefined) {
    try {
      checks = JSON.parse(flags.checks);
    } catch (error) {
      throw new UsageError(`Expected a JSON array of checks for --checks: ${(error as Error).message}`);
    }
  }
  const models = (flags.models ?? (fromFile.models as string[] | undefined))?.map((model) => (typeof model === 'string' && isPathLike(model) ? checkedModel(model, '--models')! : model));
  return {
    prompts: flags.prompts ?? (fromFile.prompts as string[] | undefined),
    models,
    temperatures: flags.temperatures ?? (fromFile.temperatures as BatchOptions['temperatures']),
    inputs: flags.inputs ?? (fromFile.inputs as string[] | undefined),
    repeats: flags.repeats ?? (fromFile.repeats as number | undefined),
    overrides,
    checks: checks as BatchOptions['checks'],
    name: flags.name ?? (fromFile.name as string | undefined),
  };
}

async function readBatchFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`Cannot read the batch file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = /^\.ya?ml$/i.test(extname(file)) ? (await import('yaml')).parse(text) : JSON.parse(text);
  } catch (error) {
    throw new UsageError(`Cannot parse the batch file ${file}: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`Expected an object with ${FILE_KEYS.join(', ')} in ${file}`);
  const unknown = Object.keys(parsed).filter((key) => !FILE_KEYS.includes(key));
  if (unknown.length > 0) throw new UsageError(`Unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} in ${file}; expected ${FILE_KEYS.join(', ')}`);
  return parsed as Record<string, unknown>;
}

async function runBatch(file: string | undefined, flags: BatchFlags, io: CliIo): Promise<number> {
  const options = await batchOptions(file, flags);
  const akachat = await openAkachat(flags, io);
  try {
    const { Batch } = await import('../batch/batch.js');
    let batch: Batch;
    try {
      batch = new Batch(akachat, options);
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw new UsageError(error.message);
      throw error;
    }
    const cells = await batch.cells();
    const signal = stopSignal(io);
    const bar = progressBar(io, { label: 'batch', unit: 'items', lineIntervalMs: 0 });
    bar.update(0, cells.length, `model ${modelLabel(cells[0].model)}`);
    let resumed = 0;
    const report = await batch.runAll({
      signal,
      resume: flags.resume,
      onProgress(progress) {
        if (progress.phase === 'judge') {
          bar.update(progress.done, progress.total, 'judging');
          return;
        }
        resumed = progress.skipped;
        const next = cells[progress.done];
        const cell = progress.result!;
        const verdict = cell.error !== undefined ? `ERROR ${cell.error}` : cell.checks.length === 0 ? 'done' : cell.pass ? 'pass' : 'FAIL';
        const last = `${cell.prompt} / ${modelLabel(cell.model)} / t=${cell.temperature}${cell.input ? ` / ${cell.input.slice(0, 30)}` : ''}: ${verdict}`;
        // The bar shows the model at work; plain lines say how each cell went.
        bar.update(progress.done, progress.total, io.terminal && next ? `model ${modelLabel(next.model)} | last: ${last}` : last);
      },
    });
    bar.stop();
    const { summary, files } = report;
    io.out(table([
      ['model', 'cells', 'passed', 'errors', 'median tok/s'],
      ...Object.entries(summary.models).map(([name, m]) => [name, String(m.cells), String(m.passed), String(m.errors), m.medianTokensPerSecond === undefined ? '' : String(m.medianTokensPerSecond)]),
    ]));
    const seconds = Date.parse(summary.finishedAt) - Date.parse(summary.startedAt);
    io.out(`${summary.cells} cells in ${formatDuration(seconds)}${resumed ? ` (${resumed} taken from the journal)` : ''}, ${summary.failedCells} failed; checks: ${summary.checksPassed} passed, ${summary.checksFailed} failed${summary.cancelled ? ' (cancelled)' : ''}`);
    for (const cell of report.results.filter((r) => r.error !== undefined || r.checks.some((c) => !c.pass)).slice(0, 20)) {
      const why = cell.error ?? cell.checks.filter((c) => !c.pass).map((c) => `${c.name}${c.message ? ` (${c.message})` : ''}`).join(', ');
      io.out(`  ${cell.error !== undefined ? 'ERROR' : 'FAIL'} ${cell.prompt} / ${modelLabel(cell.model)} / t=${cell.temperature}${cell.input ? ` / ${cell.input}` : ''}: ${why}`);
    }
    io.out(`Reports: ${files.html}\n         ${files.markdown}\n         ${files.json}\n         ${files.csv}\n         ${files.log}\nJournal (--resume): ${files.journal}`);
    if (summary.cancelled) return INTERRUPTED;
    return summary.failedCells > 0 || summary.checksFailed > 0 ? 1 : 0;
  } finally {
    await akachat.dispose();
  }
}
