/**
 * The compare tab: one prompt and input on 2-4 columns, each with its own model and sampling,
 * streamed together side by side with their timings (what the batch tab does for one input,
 * interactively). Columns are separate requests: the server runs as many at once as it has
 * slots, so each column shows whether it is waiting for one.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort } from '../../api';
import { loadPrompt, useModels, usePromptNames } from '../../components/catalog';
import { usePageKeydown } from '../../components/keys';
import { ErrorLine, useLoad } from '../../components/status';
import { useStored } from '../../components/stored';
import { ColumnView, effective, type ColumnConfig, type ColumnResult } from './column';
import { useT } from './messages';
import { runColumn, type ColumnRequest } from './run';
import './compare.css';

interface Setup {
  source: 'saved' | 'inline';
  prompt: string;
  instruction: string;
  /** The inline instruction's options as JSON text (template, max_new_tokens, ...); '' = none. */
  options: string;
  input: string;
  maxTokens: string;
  columns: ColumnConfig[];
}

const MAX_COLUMNS = 4;
const MIN_COLUMNS = 2;
const DEFAULTS: Setup = {
  source: 'saved',
  prompt: '',
  instruction: '',
  options: '',
  input: '',
  maxTokens: '',
  columns: [
    { id: 1, model: '', temperature: '0', seed: '', topP: '' },
    { id: 2, model: '', temperature: '1', seed: '', topP: '' },
  ],
};

/** The column's generation parameters over the prompt's options; empty fields keep the prompt's. */
function columnRequest(base: Omit<ColumnRequest, 'model'>, setup: Setup, index: number): ColumnRequest {
  const options = { ...base.options };
  const number = (value: string) => (value === '' ? undefined : Number(value));
  const set = (key: string, value: number | undefined) => value !== undefined && (options[key] = value);
  set('temperature', number(effective(setup.columns, index, 'temperature')));
  set('seed', number(effective(setup.columns, index, 'seed')));
  set('top_p', number(effective(setup.columns, index, 'topP')));
  set('max_new_tokens', number(setup.maxTokens.trim()));
  return { ...base, options, model: effective(setup.columns, index, 'model') || undefined };
}

/** The inline options field: a JSON object, or nothing. */
function parseOptions(text: string, name: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${name}: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${name}: expected a JSON object such as {"max_new_tokens": 64}`);
  return value as Record<string, unknown>;
}

const isRunning = (result: ColumnResult | undefined) => result?.state === 'waiting' || result?.state === 'streaming';

export function CompareTab() {
  const t = useT();
  const models = useModels();
  const prompts = usePromptNames();
  const [setup, setSetup] = useStored<Setup>('akachat.compare', DEFAULTS);
  const [results, setResults] = useState<Record<number, ColumnResult>>({});
  const [prepareError, setPrepareError] = useState<unknown>();
  // What the saved prompt says, shown under its name: the instruction every column runs.
  const preview = useLoad((signal) => (setup.source === 'saved' && setup.prompt ? loadPrompt(setup.prompt, signal) : Promise.resolve(undefined)), [setup.source, setup.prompt]);
  const controllers = useRef(new Map<number, AbortController>());
  useEffect(() => () => controllers.current.forEach((controller) => controller.abort()), []);

  const patch = (change: Partial<Setup>) => setSetup((old) => ({ ...old, ...change }));
  const patchColumn = (id: number, change: Partial<ColumnConfig>) => setSetup((old) => ({ ...old, columns: old.columns.map((c) => (c.id === id ? { ...c, ...change } : c)) }));
  const setResult = (id: number, change: (old: ColumnResult) => ColumnResult) =>
    setResults((all) => ({ ...all, [id]: change(all[id] ?? { state: 'idle', text: '', runs: 0 }) }));
  const running = setup.columns.some((column) => isRunning(results[column.id]));
  const ready = setup.source === 'saved' ? setup.prompt !== '' : setup.instruction.trim() !== '';

  /** The shared part of every column's request: the instruction and options to run. */
  async function prepare(): Promise<Omit<ColumnRequest, 'model'> | undefined> {
    setPrepareError(undefined);
    try {
      if (!ready) throw new Error(t('needInstruction'));
      const prompt = setup.source === 'saved' ? await loadPrompt(setup.prompt) : { instruction: setup.instruction, options: parseOptions(setup.options, t('options')) };
      return { name: setup.source === 'saved' ? setup.prompt : '', input: setup.input, ...prompt };
    } catch (error) {
      setPrepareError(error);
      return undefined;
    }
  }

  async function run(id: number, request: ColumnRequest) {
    controllers.current.get(id)?.abort();
    const controller = new AbortController();
    controllers.current.set(id, controller);
    // A run replaced by a newer one of the same column (or a removed column) no longer writes its result.
    const update = (change: (old: ColumnResult) => ColumnResult) => controllers.current.get(id) === controller && setResult(id, change);
    const sent = performance.now();
    update((r) => ({ state: 'waiting', text: '', runs: r.runs + 1 }));
    try {
      for await (const event of runColumn(request, controller.signal)) {
        if (event.type === 'started') update((r) => ({ ...r, state: 'streaming', waitedMs: performance.now() - sent }));
        else if (event.type === 'text') update((r) => ({ ...r, text: r.text + event.text }));
        else update((r) => ({ ...r, state: 'done', text: event.text, model: event.model, stats: event.stats }));
      }
    } catch (error) {
      update((r) => (isAbort(error) ? { ...r, state: 'stopped' } : { ...r, state: 'error', error }));
    } finally {
      if (controllers.current.get(id) === controller) controllers.current.delete(id);
    }
  }

  async function runAll() {
    const base = await prepare();
    if (!base) return;
    // Sent in column order, so with one slot column 1 goes first.
    setup.columns.forEach((column, index) => void run(column.id, columnRequest(base, setup, index)));
  }

  async function runOne(index: number) {
    const base = await prepare();
    if (base) void run(setup.columns[index].id, columnRequest(base, setup, index));
  }

  const stop = (id: number) => controllers.current.get(id)?.abort();
  const stopAll = () => controllers.current.forEach((controller) => controller.abort());

  // Ctrl+Enter / Esc wherever the focus is while the tab is open (also on a button or the page itself).
  usePageKeydown((e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      if (running) stopAll();
      else void runAll();
    } else if (e.key === 'Escape' && running) stopAll();
  });

  function addColumn() {
    const id = Math.max(...setup.columns.map((c) => c.id)) + 1;
    patch({ columns: [...setup.columns, { id, model: '', temperature: '', seed: '', topP: '' }] });
  }

  function removeColumn(id: number) {
    stop(id);
    controllers.current.delete(id);
    patch({ columns: setup.columns.filter((c) => c.id !== id) });
  }

  const promptNames = prompts.data ?? [];
  return (
    <div
      class="compare"
>
      <section class="card compare-setup" aria-label={t('setup')}>
        <div class="compare-prompt">
          <div class="row">
            <span>{t('source')}</span>
            <div class="segmented compact" role="radiogroup" aria-label={t('source')}>
              {(['saved', 'inline'] as const).map((source) => (
                <button key={source} type="button" role="radio" aria-checked={setup.source === source} data-testid={`compare-source-${source}`} onClick={() => patch({ source })}>
                  {t(source)}
                </button>
              ))}
            </div>
            {setup.source === 'saved' && (
              <select data-testid="compare-prompt" aria-label={t('prompt')} value={setup.prompt} onChange={(e) => patch({ prompt: e.currentTarget.value })}>
                <option value="">{t('choosePrompt')}</option>
                {promptNames.map((name) => (
                  <option key={name} value={name}>
                    {name}
                  </option>
                ))}
                {setup.prompt && !promptNames.includes(setup.prompt) && <option value={setup.prompt}>{setup.prompt}</option>}
              </select>
            )}
          </div>
          {setup.source === 'saved' && prompts.data && promptNames.length === 0 && <p class="muted">{t('noPrompts')}</p>}
          {setup.source === 'saved' && preview.data && (
            <pre class="compare-preview" data-testid="compare-preview" aria-label={t('instruction')}>
              {preview.data.instruction}
              {Object.keys(preview.data.options).length > 0 && `\n${JSON.stringify(preview.data.options)}`}
            </pre>
          )}
          {setup.source === 'inline' && (
            <textarea
              data-testid="compare-instruction"
              aria-label={t('instruction')}
              rows={4}
              placeholder={t('instructionPlaceholder')}
              value={setup.instruction}
              onInput={(e) => patch({ instruction: e.currentTarget.value })}
            />
          )}
          {setup.source === 'inline' && (
            <input
              class="mono"
              data-testid="compare-options"
              aria-label={t('options')}
              placeholder={t('optionsPlaceholder')}
              value={setup.options}
              onInput={(e) => patch({ options: e.currentTarget.value })}
            />
          )}
        </div>
        <label class="compare-input">
          <span>{t('input')}</span>
          <textarea data-testid="compare-input" rows={3} placeholder={t('inputPlaceholder')} value={setup.input} onInput={(e) => patch({ input: e.currentTarget.value })} />
        </label>
        <div class="row compare-actions">
          <label>
            {t('maxTokens')}{' '}
            <input type="number" min={1} class="compare-num" data-testid="compare-max-tokens" placeholder={t('promptValue')} value={setup.maxTokens} onInput={(e) => patch({ maxTokens: e.currentTarget.value })} />
          </label>
          <button type="button" onClick={addColumn} disabled={setup.columns.length >= MAX_COLUMNS} data-testid="compare-add">
            {t('addColumn')}
          </button>
          <span class="spacer" />
          <span class="muted compare-hint" title={t('parallelHint')}>
            {t('runHint')}
          </span>
          {running ? (
            <button type="button" data-testid="compare-stop-all" onClick={stopAll} title={t('runHint')}>
              {t('stopAll')}
            </button>
          ) : (
            <button type="button" class="primary" data-testid="compare-run-all" disabled={!ready} onClick={() => void runAll()} title={t('runHint')}>
              {t('runAll')}
            </button>
          )}
        </div>
        <ErrorLine error={prepareError ?? preview.error ?? prompts.error ?? models.error} />
      </section>

      <div class={`compare-grid cols-${setup.columns.length}`}>
        {setup.columns.map((column, index) => (
          <ColumnView
            key={column.id}
            index={index}
            columns={setup.columns}
            result={results[column.id] ?? { state: 'idle', text: '', runs: 0 }}
            models={(models.data?.available ?? []).filter((entry) => entry.kind !== 'prompt').map((entry) => entry.id)}
            canRun={ready}
            canRemove={setup.columns.length > MIN_COLUMNS}
            onChange={(change) => patchColumn(column.id, change)}
            onRun={() => void runOne(index)}
            onStop={() => stop(column.id)}
            onRemove={() => removeColumn(column.id)}
          />
        ))}
      </div>
    </div>
  );
}
