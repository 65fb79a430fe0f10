/**
 * A batch run's reports: the original akachat's `log/batch_*.log` (written cell by cell as they
 * finish), and at the end JSON (every cell), CSV, and a side-by-side table (prompt/input rows x
 * model/temperature columns) as Markdown and as a self-contained HTML page.
 */
import type { RawOptions } from '../prompt/options.js';
import type { CheckResult } from './checks.js';

/** One cell of the matrix: prompt x model x temperature x input (x repeat). */
export interface BatchCell {
  prompt: string;
  /** The model the cell ran on ('' = the prompt's own). */
  model: string;
  temperature: number;
  input: string;
  /** 0-based repeat index. */
  repeat: number;
}

export interface CellResult extends BatchCell {
  /** Stable identity of the cell, used to resume a run. */
  key: string;
  /** The options actually used (secret values masked). */
  options: RawOptions;
  /** The evaluated instruction. */
  instruction: string;
  output: string;
  /** Set when the cell failed; the run went on. */
  error?: string;
  stopReason?: string;
  /** Model file or remote model name that answered. */
  modelUsed?: string;
  promptTokens: number;
  completionTokens: number;
  firstTokenMs?: number;
  /** Generated tokens per second of generation time. */
  tokensPerSecond?: number;
  durationMs: number;
  checks: CheckResult[];
  /** No error and every check passed. */
  pass: boolean;
}

export interface BatchSummary {
  startedAt: string;
  finishedAt: string;
  cells: number;
  failedCells: number;
  checksPassed: number;
  checksFailed: number;
  /** Per model: cells, cells that passed every check, failed cells, median tokens/s. */
  models: Record<string, { cells: number; passed: number; errors: number; medianTokensPerSecond?: number }>;
  cancelled: boolean;
}

/** A model as reports show it: GGUF paths by file name, other names as they are. */
export function modelLabel(model: string): string {
  if (model === '') return '(prompt default)';
  return /\.gguf$/i.test(model) ? model.split(/[\\/]/).at(-1)! : model;
}

/** Key of a cell for resuming: the same cell of a later run has the same key. */
export function cellKey(cell: BatchCell): string {
  return JSON.stringify([cell.prompt, cell.model, cell.temperature, cell.input, cell.repeat]);
}

/** `batch_YYYY-MM-DD_HH-MM-SS` in local time, as the original named its logs. */
export function batchStamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `batch_${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}_${pad(date.getHours())}-${pad(date.getMinutes())}-${pad(date.getSeconds())}`;
}

/**
 * One cell in the original layout: `model_name:`, `options:`, the instruction, `temperature:`,
 * `====`, `input:`, `----`, the output, the duration, `====`.
 */
export function originalLogEntry(result: CellResult): string {
  const output = result.error === undefined ? result.output : `ERROR: ${result.error}`;
  return [
    `model_name: ${result.model || result.modelUsed || ''}`,
    `options: ${JSON.stringify(result.options)}`,
    result.instruction,
    `temperature: ${result.temperature}`,
    '====',
    `input: ${result.input}`,
    '----',
    output,
    `${(result.durationMs / 1000).toFixed(3)}`,
    '====',
    '',
  ].join('\n');
}

/** Parses a batch log back into its entries (for tests and tools that read the original format). */
export function parseOriginalLog(text: string): { model: string; options: RawOptions; instruction: string; temperature: number; input: string; output: string; durationSeconds: number }[] {
  const entries = [];
  const pattern = /model_name: (.*)\noptions: (.*)\n([\s\S]*?)\ntemperature: (.*)\n====\ninput: ([\s\S]*?)\n----\n([\s\S]*?)\n(\d+\.\d{3})\n====\n/g;
  for (const match of text.matchAll(pattern)) {
    entries.push({ model: match[1], options: JSON.parse(match[2]) as RawOptions, instruction: match[3], temperature: Number(match[4]), input: match[5], output: match[6], durationSeconds: Number(match[7]) });
  }
  return entries;
}

export function summarize(results: readonly CellResult[], startedAt: Date, cancelled: boolean): BatchSummary {
  const models: BatchSummary['models'] = {};
  for (const result of results) {
    const name = modelLabel(result.model || result.modelUsed || '');
    const entry = (models[name] ??= { cells: 0, passed: 0, errors: 0 });
    entry.cells++;
    if (result.pass) entry.passed++;
    if (result.error !== undefined) entry.errors++;
  }
  for (const [name, entry] of Object.entries(models)) {
    const speeds = results.filter((r) => modelLabel(r.model || r.modelUsed || '') === name && r.tokensPerSecond !== undefined).map((r) => r.tokensPerSecond!).sort((a, b) => a - b);
    if (speeds.length > 0) entry.medianTokensPerSecond = +speeds[Math.floor((speeds.length - 1) / 2)].toFixed(1);
  }
  const checks = results.flatMap((r) => r.checks);
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    cells: results.length,
    failedCells: results.filter((r) => r.error !== undefined).length,
    checksPassed: checks.filter((c) => c.pass).length,
    checksFailed: checks.filter((c) => !c.pass).length,
    models,
    cancelled,
  };
}

const CSV_COLUMNS = ['prompt', 'model', 'temperature', 'input', 'repeat', 'output', 'error', 'stop_reason', 'prompt_tokens', 'completion_tokens', 'first_token_ms', 'tokens_per_second', 'duration_ms', 'checks_passed', 'checks_failed', 'pass', 'options'] as const;

export function toCsv(results: readonly CellResult[]): string {
  const quote = (value: unknown) => {
    const text = value === undefined || value === null ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const rows = results.map((r) => [
    r.prompt, r.model, r.temperature, r.input, r.repeat, r.output, r.error, r.stopReason, r.promptTokens, r.completionTokens,
    r.firstTokenMs?.toFixed(1), r.tokensPerSecond?.toFixed(1), r.durationMs.toFixed(1),
    r.checks.filter((c) => c.pass).length, r.checks.filter((c) => !c.pass).length, r.pass, JSON.stringify(r.options),
  ].map(quote).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\r\n') + '\r\n';
}

/** The side-by-side matrix: rows are prompt/input (/repeat), columns model/temperature. */
export function matrix(results: readonly CellResult[]): { columns: string[]; rows: { label: string; cells: (CellResult | undefined)[] }[] } {
  const columnOf = (r: CellResult) => `${modelLabel(r.model)} / t=${r.temperature}`;
  const rowOf = (r: CellResult) => `${r.prompt} / ${r.input}${r.repeat > 0 ? ` / #${r.repeat + 1}` : ''}`;
  const columns = [...new Set(results.map(columnOf))];
  const rowLabels = [...new Set(results.map(rowOf))];
  const byKey = new Map(results.map((r) => [`${rowOf(r)}\0${columnOf(r)}`, r]));
  return { columns, rows: rowLabels.map((label) => ({ label, cells: columns.map((column) => byKey.get(`${label}\0${column}`)) })) };
}

function verdict(result: CellResult): string {
  if (result.error !== undefined) return 'ERROR';
  if (result.checks.length === 0) return '';
  return result.pass ? 'PASS' : `FAIL (${result.checks.filter((c) => !c.pass).map((c) => c.name).join(', ')})`;
}

export function toMarkdown(results: readonly CellResult[], summary: BatchSummary): string {
  const { columns, rows } = matrix(results);
  const escape = (text: string) => text.replaceAll('|', '\\|').replace(/\r?\n/g, '<br>');
  const lines = [
    `# Batch ${summary.startedAt}`,
    '',
    `${summary.cells} cells, ${summary.failedCells} failed; checks: ${summary.checksPassed} passed, ${summary.checksFailed} failed${summary.cancelled ? ' (cancelled)' : ''}`,
    '',
    '| model | cells | passed | errors | median tok/s |',
    '| --- | --- | --- | --- | --- |',
    ...Object.entries(summary.models).map(([name, m]) => `| ${escape(name)} | ${m.cells} | ${m.passed} | ${m.errors} | ${m.medianTokensPerSecond ?? ''} |`),
    '',
    `| prompt / input | ${columns.map(escape).join(' | ')} |`,
    `| --- | ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${escape(row.label)} | ${row.cells.map((cell) => (cell ? escape(`${cell.error ?? cell.output}${verdict(cell) ? ` **${verdict(cell)}**` : ''}`) : '')).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}

export function toHtml(results: readonly CellResult[], summary: BatchSummary): string {
  const { columns, rows } = matrix(results);
  const esc = (text: string) => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
  const cell = (r: CellResult | undefined) => {
    if (!r) return '<td></td>';
    const status = r.error !== undefined ? 'error' : r.checks.length === 0 ? '' : r.pass ? 'pass' : 'fail';
    const stats = [r.tokensPerSecond !== undefined ? `${r.tokensPerSecond.toFixed(1)} tok/s` : '', r.firstTokenMs !== undefined ? `TTFT ${r.firstTokenMs.toFixed(0)} ms` : '', `${(r.durationMs / 1000).toFixed(2)} s`].filter(Boolean).join(' · ');
    const checks = r.checks.map((c) => `<li class="${c.pass ? 'pass' : 'fail'}">${esc(c.name)}${c.message && !c.pass ? `: ${esc(c.message)}` : ''}</li>`).join('');
    return `<td class="${status}"><pre>${esc(r.error ?? r.output)}</pre><div class="stats">${esc(stats)}</div>${checks ? `<ul>${checks}</ul>` : ''}</td>`;
  };
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>akachat batch ${esc(summary.startedAt)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .5rem; vertical-align: top; text-align: left; max-width: 32rem; }
th { background: #f4f4f6; position: sticky; top: 0; }
pre { white-space: pre-wrap; margin: 0; font: 13px ui-monospace, monospace; }
td.pass { background: #eefbea; } td.fail { background: #fdecec; } td.error { background: #fff4d6; }
.stats { color: #666; font-size: 12px; margin-top: .4rem; }
li.pass { color: #1a7f37; } li.fail { color: #c62828; }
</style></head><body>
<h1>Batch ${esc(summary.startedAt)}</h1>
<p>${summary.cells} cells, ${summary.failedCells} failed; checks: ${summary.checksPassed} passed, ${summary.checksFailed} failed${summary.cancelled ? ' (cancelled)' : ''}</p>
<table><thead><tr><th>model</th><th>cells</th><th>passed</th><th>errors</th><th>median tok/s</th></tr></thead><tbody>
${Object.entries(summary.models).map(([name, m]) => `<tr><td>${esc(name)}</td><td>${m.cells}</td><td>${m.passed}</td><td>${m.errors}</td><td>${m.medianTokensPerSecond ?? ''}</td></tr>`).join('\n')}
</tbody></table>
<h2>Side by side</h2>
<table><thead><tr><th>prompt / input</th>${columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>
${rows.map((row) => `<tr><th>${esc(row.label)}</th>${row.cells.map(cell).join('')}</tr>`).join('\n')}
</tbody></table>
</body></html>
`;
}
