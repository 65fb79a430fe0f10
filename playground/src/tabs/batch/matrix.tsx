/**
 * A batch's cells side by side: one table per prompt, a row per input (and repeat), a column per
 * model and temperature; each cell shows the output, pass / fail and the checks that failed.
 */
import { useBatchT } from './messages';

export interface CheckResult {
  name: string;
  pass: boolean;
  message?: string;
}

export interface CellResult {
  prompt: string;
  model: string;
  temperature: number;
  input: string;
  repeat: number;
  output: string;
  error?: string;
  completionTokens: number;
  durationMs: number;
  checks: CheckResult[];
  pass: boolean;
}

/** A model as the matrix heads it: files by name without folders or `.gguf`. */
export function modelLabel(model: string, own: string): string {
  if (model === '') return own;
  return model.split(/[\\/]/).at(-1)!.replace(/\.gguf$/i, '');
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

export function ResultMatrix({ cells, inputs }: { cells: CellResult[]; inputs?: string[] }) {
  const t = useBatchT();
  const prompts = unique(cells.map((c) => c.prompt));
  const columns = unique(cells.map((c) => c.model)).flatMap((model) =>
    unique(cells.filter((c) => c.model === model).map((c) => c.temperature))
      .sort((a, b) => a - b)
      .map((temperature) => ({ model, temperature })),
  );
  const order = (input: string) => {
    const at = inputs?.indexOf(input) ?? -1;
    return at < 0 ? Number.MAX_SAFE_INTEGER : at;
  };
  return (
    <div class="batch-matrix" data-testid="batch-matrix">
      {prompts.map((prompt) => {
        const mine = cells.filter((c) => c.prompt === prompt);
        const rows = unique(mine.map((c) => JSON.stringify([c.input, c.repeat])))
          .map((key) => JSON.parse(key) as [string, number])
          .sort((a, b) => order(a[0]) - order(b[0]) || a[1] - b[1]);
        const repeated = rows.some(([, repeat]) => repeat > 0);
        return (
          <section key={prompt} class="batch-prompt">
            <h3 class="mono">{prompt}</h3>
            <div class="batch-scroll">
              <table>
                <thead>
                  <tr>
                    <th>{t('input')}</th>
                    {columns.map(({ model, temperature }) => (
                      <th key={`${model}\0${temperature}`} class="mono">
                        {modelLabel(model, t('ownModel'))} <span class="muted">T={temperature}</span>
                      </th>
                    ))}
                  </tr>
                </thead>
                <tbody>
                  {rows.map(([input, repeat]) => (
                    <tr key={`${input}\0${repeat}`}>
                      <th class="batch-input">
                        <pre>{input}</pre>
                        {repeated && <span class="muted">#{repeat + 1}</span>}
                      </th>
                      {columns.map(({ model, temperature }) => {
                        const cell = mine.find((c) => c.model === model && c.temperature === temperature && c.input === input && c.repeat === repeat);
                        return <td key={`${model}\0${temperature}`}>{cell ? <Cell cell={cell} /> : <span class="muted">…</span>}</td>;
                      })}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </section>
        );
      })}
    </div>
  );
}

function Cell({ cell }: { cell: CellResult }) {
  const t = useBatchT();
  const verdict = cell.error ? 'error' : cell.pass ? 'pass' : 'fail';
  return (
    <div class={`batch-cell ${verdict}`} data-testid="batch-cell" data-pass={cell.pass ? 'true' : 'false'} data-temperature={cell.temperature} data-input={cell.input}>
      <div class="row batch-cell-head">
        <span class={`batch-verdict ${verdict}`}>{verdict === 'pass' ? `✓ ${t('pass')}` : verdict === 'fail' ? `✗ ${t('fail')}` : `⚠ ${t('error')}`}</span>
        <span class="muted">{t('tokens', { tokens: cell.completionTokens, ms: Math.round(cell.durationMs) })}</span>
      </div>
      {cell.error ? <p class="error">{cell.error}</p> : <pre class="batch-output">{cell.output || t('emptyOutput')}</pre>}
      {cell.checks.length > 0 && (
        <ul class="batch-checks">
          {cell.checks.map((check, i) => (
            <li key={i} class={check.pass ? 'ok' : 'error'} title={check.message}>
              {check.pass ? '✓' : '✗'} <span class="mono">{check.name}</span>
              {!check.pass && check.message && <span class="muted"> — {check.message}</span>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
