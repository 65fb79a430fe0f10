/** One column of the compare tab: its model and sampling, its streamed output and its timings. */
import { useState } from 'preact/hooks';
import { formatMs, formatRate, tokensPerSecond, type RunStats } from '../../components/stats';
import { ErrorLine } from '../../components/status';
import { useT } from './messages';

/** A column's own settings; an empty field means "same as column 1" (column 1: the prompt's). */
export interface ColumnConfig {
  id: number;
  model: string;
  temperature: string;
  seed: string;
  topP: string;
}

export type ColumnState = 'idle' | 'waiting' | 'streaming' | 'done' | 'stopped' | 'error';

export interface ColumnResult {
  state: ColumnState;
  /** How many runs this column started (shown as data-runs: a test can tell a new result from the last one). */
  runs: number;
  text: string;
  /** From Run until the response began (queued for a slot, instruction evaluated). */
  waitedMs?: number;
  stats?: RunStats;
  /** The model that answered, from `done`. */
  model?: string;
  error?: unknown;
}

/** The column's own value, else column 1's ("same as column 1"). */
export function effective(columns: ColumnConfig[], index: number, field: 'model' | 'temperature' | 'seed' | 'topP'): string {
  return columns[index][field].trim() || columns[0][field].trim();
}

interface Props {
  index: number;
  columns: ColumnConfig[];
  result: ColumnResult;
  /** Names a column may pick (GET /api/models, prompts left out). */
  models: string[];
  canRun: boolean;
  canRemove: boolean;
  onChange(change: Partial<ColumnConfig>): void;
  onRun(): void;
  onStop(): void;
  onRemove(): void;
}

export function ColumnView({ index, columns, result, models, canRun, canRemove, onChange, onRun, onStop, onRemove }: Props) {
  const t = useT();
  const [copied, setCopied] = useState(false);
  const [copyError, setCopyError] = useState<unknown>();
  const column = columns[index];
  const first = columns[0];
  const running = result.state === 'waiting' || result.state === 'streaming';
  const n = index + 1;

  /** Column 1 falls back to the prompt's value; the others show column 1's. */
  const placeholder = (field: 'temperature' | 'seed' | 'topP') => (index === 0 ? t('promptValue') : first[field].trim() ? t('sameValue', { value: first[field].trim() }) : t('sameAsFirst'));

  async function copy() {
    setCopyError(undefined);
    try {
      await navigator.clipboard.writeText(result.text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch (error) {
      setCopyError(error);
    }
  }

  const stats = result.stats;
  return (
    <section class="card compare-col" data-testid="compare-column" data-state={result.state} data-runs={result.runs} aria-label={t('column', { n })}>
      <header class="row compare-col-head">
        <strong>{t('column', { n })}</strong>
        <span class={`state state-${result.state}`} data-testid="column-state">
          {t(result.state)}
        </span>
        <span class="spacer" />
        {canRemove && (
          <button type="button" class="icon" aria-label={t('removeColumn', { n })} title={t('removeColumn', { n })} onClick={onRemove}>
            ×
          </button>
        )}
      </header>
      <div class="compare-fields">
        <label>
          <span>{t('model')}</span>
          <select data-testid="column-model" value={column.model} onChange={(e) => onChange({ model: e.currentTarget.value })}>
            <option value="">{index === 0 ? t('defaultModel') : first.model ? t('sameValue', { value: first.model }) : t('sameAsFirst')}</option>
            {models.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>{t('temperature')}</span>
          <input type="number" min={0} step={0.1} data-testid="column-temperature" placeholder={placeholder('temperature')} value={column.temperature} onInput={(e) => onChange({ temperature: e.currentTarget.value })} />
        </label>
        <label>
          <span>{t('seed')}</span>
          <input type="number" min={0} step={1} data-testid="column-seed" placeholder={placeholder('seed')} value={column.seed} onInput={(e) => onChange({ seed: e.currentTarget.value })} />
        </label>
        <label>
          <span>{t('topP')}</span>
          <input type="number" min={0} max={1} step={0.05} data-testid="column-top-p" placeholder={placeholder('topP')} value={column.topP} onInput={(e) => onChange({ topP: e.currentTarget.value })} />
        </label>
      </div>
      <pre class={result.state === 'streaming' ? 'inset compare-output streaming' : 'inset compare-output'} data-testid="column-output" aria-live="polite">
        {result.text}
      </pre>
      <dl class="stats compare-stats" data-testid="column-stats">
        <Stat label={t('firstToken')} value={formatMs(stats?.firstTokenMs)} testId="column-ttft" />
        <Stat label={t('speed')} value={stats ? `${formatRate(tokensPerSecond(stats))} tok/s` : '—'} testId="column-speed" />
        <Stat label={t('duration')} value={formatMs(stats?.durationMs)} testId="column-duration" />
        <Stat label={t('tokens')} value={stats ? t('tokensValue', { generated: stats.completionTokens ?? '—', prompt: stats.promptTokens ?? '—' }) : '—'} testId="column-tokens" />
        <Stat label={t('waited')} value={formatMs(result.waitedMs)} hint={t('waitedHint')} />
        {result.model && <Stat label={t('model')} value={result.model} testId="column-model-used" />}
      </dl>
      <ErrorLine error={result.error ?? copyError} />
      <div class="row">
        {running ? (
          <button type="button" data-testid="column-stop" onClick={onStop}>
            {t('stop')}
          </button>
        ) : (
          <button type="button" data-testid="column-run" disabled={!canRun} onClick={onRun}>
            {t('run')}
          </button>
        )}
        <button type="button" data-testid="column-copy" disabled={result.text === ''} onClick={() => void copy()}>
          {copied ? t('copied') : t('copy')}
        </button>
      </div>
    </section>
  );
}

function Stat({ label, value, testId, hint }: { label: string; value: string; testId?: string; hint?: string }) {
  return (
    <div title={hint}>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}
