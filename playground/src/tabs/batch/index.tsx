/**
 * The batch tab: prompts x models x temperatures x inputs with checks, run on the server in the
 * background (POST /api/batch, then its SSE events), a progress bar, the cells side by side with
 * pass / fail, cancel, and the reports. The form and the last run are kept in this browser, so a
 * reload finds the run again (the server replays its events).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { del, events, get, isAbort, post } from '../../api';
import { useModels, usePromptNames } from '../../components/catalog';
import { useStored } from '../../components/stored';
import { ErrorLine, ProgressBar } from '../../components/status';
import { ChecksEditor, checksForRequest, type CheckDraft } from './checks';
import { ResultMatrix, type CellResult } from './matrix';
import { useBatchT } from './messages';
import { Reports } from './reports';
import './batch.css';

interface Form {
  prompts: string[];
  models: string[];
  temperatures: string;
  inputs: string;
  maxTokens: number;
  repeats: number;
  checks: CheckDraft[];
}

interface Summary {
  cells: number;
  failedCells: number;
  checksPassed: number;
  checksFailed: number;
  cancelled: boolean;
  models: Record<string, { cells: number; passed: number }>;
}

interface Run {
  id: string;
  state: 'running' | 'done' | 'cancelled' | 'failed';
  total: number;
  done: number;
  etaMs?: number;
  phase?: string;
  cells: CellResult[];
  summary?: Summary;
  error?: string;
  /** The request's inputs, to keep the matrix rows in their order. */
  inputs?: string[];
}

const FORM_KEY = 'akachat.batch.form';
const RUN_KEY = 'akachat.batch.run';
const DEFAULT_FORM: Form = { prompts: [], models: [''], temperatures: '0 0.7', inputs: '', maxTokens: 64, repeats: 1, checks: [] };

/** The temperatures typed, or undefined when one is not a number from 0 to 2. */
function parseTemperatures(text: string): number[] | undefined {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const values = parts.map(Number);
  return parts.length > 0 && values.every((v) => Number.isFinite(v) && v >= 0 && v <= 2) ? values : undefined;
}

function inputLines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter(Boolean);
}

export function BatchTab() {
  const t = useBatchT();
  const prompts = usePromptNames();
  const models = useModels();
  const [form, setForm] = useStored<Form>(FORM_KEY, DEFAULT_FORM);
  const [run, setRun] = useState<Run>();
  const [error, setError] = useState<unknown>();
  const watching = useRef<AbortController | undefined>(undefined);

  // A run started before a reload: follow it again (its events are replayed from the start).
  useEffect(() => {
    const saved = localStorage.getItem(RUN_KEY);
    if (saved) {
      const { id, inputs } = JSON.parse(saved) as { id: string; inputs?: string[] };
      get<Run>(`/api/batch/${encodeURIComponent(id)}`).then(
        () => void watch(id, inputs),
        () => localStorage.removeItem(RUN_KEY),
      );
    }
    return () => watching.current?.abort();
  }, []);

  const temperatures = parseTemperatures(form.temperatures);
  const inputs = inputLines(form.inputs);
  const choosable = (models.data?.available ?? []).filter((m) => m.kind !== 'prompt');
  const cellCount = form.prompts.length * Math.max(1, form.models.length) * (temperatures?.length ?? 0) * Math.max(1, inputs.length) * form.repeats;
  const running = run?.state === 'running';
  const canRun = !running && form.prompts.length > 0 && temperatures !== undefined && form.repeats >= 1 && form.maxTokens >= 1;

  const update = <K extends keyof Form>(key: K, value: Form[K]) => setForm((f) => ({ ...f, [key]: value }));
  const toggle = (key: 'prompts' | 'models', value: string, on: boolean) =>
    setForm((f) => ({ ...f, [key]: on ? [...f[key].filter((v) => v !== value), value] : f[key].filter((v) => v !== value) }));

  async function watch(id: string, runInputs?: string[]) {
    watching.current?.abort();
    const controller = new AbortController();
    watching.current = controller;
    const cells: CellResult[] = [];
    setRun({ id, state: 'running', total: 0, done: 0, cells, inputs: runInputs });
    try {
      for await (const event of events(`/api/batch/${encodeURIComponent(id)}/events`, undefined, controller.signal)) {
        const data = JSON.parse(event.data) as { type: string; [key: string]: unknown };
        if (data.type === 'start') setRun((r) => r && { ...r, total: data.total as number });
        else if (data.type === 'cell') {
          cells.push(data.result as CellResult);
          setRun((r) => r && { ...r, cells: [...cells] });
        } else if (data.type === 'progress') setRun((r) => r && { ...r, done: data.done as number, total: data.total as number, etaMs: data.etaMs as number | undefined, phase: data.phase as string });
        else if (data.type === 'done') {
          const summary = data.summary as Summary;
          setRun((r) => r && { ...r, state: summary.cancelled ? 'cancelled' : 'done', summary });
        } else if (data.type === 'error') setRun((r) => r && { ...r, state: 'failed', error: data.message as string });
      }
    } catch (e) {
      if (!isAbort(e)) setError(e);
    }
  }

  async function start() {
    if (!canRun) return;
    setError(undefined);
    try {
      const body = {
        prompts: form.prompts,
        models: form.models,
        temperatures,
        inputs,
        repeats: form.repeats,
        overrides: { max_new_tokens: form.maxTokens },
        checks: checksForRequest(form.checks),
      };
      const started = await post<{ id: string }>('/api/batch', body);
      localStorage.setItem(RUN_KEY, JSON.stringify({ id: started.id, inputs }));
      void watch(started.id, inputs);
    } catch (e) {
      setError(e);
    }
  }

  async function cancel() {
    if (!run) return;
    try {
      await del(`/api/batch/${encodeURIComponent(run.id)}`);
    } catch (e) {
      setError(e);
    }
  }

  return (
    <div
      class="batch-tab side-layout"
      onKeyDown={(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          void start();
        }
      }}
    >
      <form
        class="card batch-form"
        aria-labelledby="batch-setup"
        onSubmit={(e) => {
          e.preventDefault();
          void start();
        }}
      >
        <h2 id="batch-setup">{t('setup')}</h2>
        <fieldset data-testid="batch-prompts">
          <legend>{t('prompts')}</legend>
          {prompts.data?.length === 0 && <p class="muted">{t('noPrompts')}</p>}
          <div class="batch-choices">
            {(prompts.data ?? []).map((name) => (
              <label key={name} class="mono">
                <input type="checkbox" value={name} checked={form.prompts.includes(name)} onChange={(e) => toggle('prompts', name, e.currentTarget.checked)} /> {name}
              </label>
            ))}
          </div>
          <ErrorLine error={prompts.error} />
        </fieldset>
        <fieldset data-testid="batch-models">
          <legend>{t('models')}</legend>
          <div class="batch-choices">
            <label>
              <input type="checkbox" value="" checked={form.models.includes('')} onChange={(e) => toggle('models', '', e.currentTarget.checked)} /> {t('ownModel')}
            </label>
            {choosable.map((m) => (
              <label key={m.id} class="mono">
                <input type="checkbox" value={m.id} checked={form.models.includes(m.id)} onChange={(e) => toggle('models', m.id, e.currentTarget.checked)} /> {m.id}
              </label>
            ))}
          </div>
          <ErrorLine error={models.error} />
        </fieldset>
        <label class="batch-field">
          {t('temperatures')}
          <input class="mono" data-testid="batch-temperatures" value={form.temperatures} aria-invalid={temperatures === undefined} onInput={(e) => update('temperatures', e.currentTarget.value)} />
          <span class={temperatures === undefined ? 'error' : 'muted'}>{temperatures === undefined ? t('badTemperatures') : t('temperaturesHint')}</span>
        </label>
        <label class="batch-field">
          {t('inputs')}
          <textarea data-testid="batch-inputs" rows={4} value={form.inputs} onInput={(e) => update('inputs', e.currentTarget.value)} />
          <span class="muted">{t('inputsHint')}</span>
        </label>
        <div class="row">
          <label>
            {t('maxTokens')} <input type="number" min={1} max={4096} data-testid="batch-max-tokens" value={form.maxTokens} onInput={(e) => update('maxTokens', Number(e.currentTarget.value))} />
          </label>
          <label>
            {t('repeats')} <input type="number" min={1} max={100} value={form.repeats} onInput={(e) => update('repeats', Number(e.currentTarget.value))} />
          </label>
        </div>
        <ChecksEditor checks={form.checks} onChange={(checks) => update('checks', checks)} />
        <p class="muted" data-testid="batch-count">
          {t('cells', { count: cellCount, prompts: form.prompts.length, models: Math.max(1, form.models.length), temps: temperatures?.length ?? 0, inputs: Math.max(1, inputs.length), repeats: form.repeats })}
        </p>
        <div class="row">
          <button type="submit" class="primary" data-testid="batch-run" disabled={!canRun} title={t('runHint')}>
            {t('run')} <span class="batch-kbd">{t('runHint')}</span>
          </button>
          {running && (
            <button type="button" data-testid="batch-cancel" onClick={() => void cancel()}>
              {t('cancel')}
            </button>
          )}
        </div>
        <ErrorLine error={error} />
      </form>
      <section class="batch-results" aria-labelledby="batch-results">
        <div class="row batch-results-head">
          <h2 id="batch-results">{t('results')}</h2>
          {run && (
            <span class="muted mono" data-testid="batch-state" data-state={run.state}>
              {t('runId', { id: run.id })} · {t(`state_${run.state}`)}
            </span>
          )}
        </div>
        {run && running && (
          <ProgressBar
            value={run.total ? run.done / run.total : undefined}
            label={`${t('progress', { done: run.done, total: run.total })}${run.phase === 'judge' ? ` · ${t('judging')}` : run.etaMs ? ` · ${t('eta', { s: Math.ceil(run.etaMs / 1000) })}` : ''}`}
          />
        )}
        {run?.summary && (
          <p class={run.summary.failedCells === 0 && run.summary.checksFailed === 0 ? 'ok' : 'error'} data-testid="batch-summary">
            {t('summary', { cells: run.summary.cells, passed: Object.values(run.summary.models).reduce((n, m) => n + m.passed, 0), checksPassed: run.summary.checksPassed, checksFailed: run.summary.checksFailed })}
          </p>
        )}
        {run?.state === 'cancelled' && <p class="muted">{t('cancelled')}</p>}
        {run?.error && <p class="error">{run.error}</p>}
        {run && run.state !== 'running' && run.state !== 'failed' && <Reports id={run.id} />}
        {run && run.cells.length > 0 ? <ResultMatrix cells={run.cells} inputs={run.inputs} /> : !running && <p class="muted">{t('noResults')}</p>}
      </section>
    </div>
  );
}
