/**
 * A prompt's options: a form for the known keys and the raw JSON, kept in sync both ways (the JSON
 * is the truth: keys the form does not know stay as they are), and presets that fill them. A key
 * stored under its old name (`location`, `template`, `output_tokens`) is edited under that name.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { useModels } from '../../components/catalog';
import { ErrorLine, useLoad } from '../../components/status';
import { useT, type T } from './messages';
import { loadPresets, type Options, type Preset } from './run';

type MessageKey = Parameters<T>[0];

interface Field {
  /** Stored names, the current one first. */
  keys: string[];
  label: MessageKey;
  kind: 'provider' | 'model' | 'text' | 'textarea' | 'boolean' | 'integer' | 'number' | 'stop';
  hint?: MessageKey;
  min?: number;
  max?: number;
  step?: number;
  /** Suggestions for a text field. */
  suggest?: string[];
  /** The server's owner chooses it (what runs and where): a run from here keeps the saved value. */
  ownerOnly?: boolean;
}

const FIELDS: Field[] = [
  { keys: ['provider', 'location'], label: 'provider', kind: 'provider', ownerOnly: true },
  { keys: ['model'], label: 'model', kind: 'model', hint: 'modelHint', ownerOnly: true },
  { keys: ['dtype'], label: 'dtype', kind: 'text', hint: 'dtypeHint', suggest: ['Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q8_0', 'F16', 'BF16', 'F32'], ownerOnly: true },
  { keys: ['is_messages'], label: 'isMessages', kind: 'boolean' },
  { keys: ['inst_template', 'template'], label: 'template', kind: 'textarea', hint: 'templateHint' },
  { keys: ['chat_template'], label: 'chatTemplate', kind: 'text', hint: 'chatTemplateHint', suggest: ['chatml', 'llama3', 'llama2', 'gemma', 'mistral-v7', 'phi3', 'qwen', 'deepseek3'], ownerOnly: true },
  { keys: ['max_new_tokens', 'output_tokens'], label: 'maxTokens', kind: 'integer', min: 0 },
  { keys: ['temperature'], label: 'temperature', kind: 'number', min: 0, step: 0.05 },
  { keys: ['top_p'], label: 'topP', kind: 'number', min: 0, max: 1, step: 0.01 },
  { keys: ['top_k'], label: 'topK', kind: 'integer', min: 0 },
  { keys: ['min_p'], label: 'minP', kind: 'number', min: 0, max: 1, step: 0.01 },
  { keys: ['repetition_penalty'], label: 'repetitionPenalty', kind: 'number', min: 0, step: 0.05 },
  { keys: ['seed'], label: 'seed', kind: 'integer', min: -1 },
  { keys: ['stop'], label: 'stopStrings', kind: 'stop', hint: 'stopHint' },
];

/** Keys that choose what runs and where: the server's owner sets them (see the management routes' trust rule). */
const OWNER_KEYS = new Set(['provider', 'location', 'endpoint', 'api_key', 'model', 'dtype', 'chat_template', 'input_tokens']);

/**
 * A preset's options filled into the form: its generation settings and text layout as values,
 * and the preset itself as the model (a listed name), which brings its owner-only settings
 * (model file, endpoint, key, chat template) when the prompt runs.
 */
function withPreset(options: Options, preset: Preset): Options {
  const filled: Options = { ...options };
  for (const [key, value] of Object.entries(preset.options)) if (!OWNER_KEYS.has(key)) filled[key] = value;
  return { ...filled, model: preset.name };
}

/** The key a field is stored under in these options: the one present, else its current name. */
function keyOf(options: Options, field: Field): string {
  return field.keys.find((key) => Object.hasOwn(options, key) && options[key] !== null) ?? field.keys[0];
}

/** `options` with one field set, or removed for `undefined`. */
function withField(options: Options, field: Field, value: unknown): Options {
  const key = keyOf(options, field);
  const next = { ...options };
  if (value === undefined) delete next[key];
  else next[key] = value;
  return next;
}

/**
 * Text an input shows for a value: re-derived when the value changes from outside, kept as typed
 * while it still means the same value (so `0.` or a trailing new line survive typing).
 */
function useText<V>(value: V, format: (value: V) => string, parse: (text: string) => V | undefined): [string, (text: string) => void] {
  const [text, setText] = useState(() => format(value));
  useEffect(() => {
    if (JSON.stringify(parse(text) ?? null) !== JSON.stringify(value ?? null)) setText(format(value));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [JSON.stringify(value ?? null)]);
  return [text, setText];
}

function parseNumber(text: string, integer: boolean): number | undefined {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && (!integer || Number.isInteger(n)) ? n : undefined;
}

function NumberInput({ field, value, onChange, id }: { field: Field; value: unknown; onChange(value: unknown): void; id: string }) {
  const integer = field.kind === 'integer';
  const [text, setText] = useText(value, (v) => (typeof v === 'number' ? String(v) : ''), (t) => parseNumber(t, integer));
  return (
    <input
      id={id}
      type="number"
      inputMode={integer ? 'numeric' : 'decimal'}
      min={field.min}
      max={field.max}
      step={field.step ?? 1}
      value={text}
      onInput={(e) => {
        const raw = e.currentTarget.value;
        setText(raw);
        if (raw.trim() === '') onChange(undefined);
        else {
          const n = parseNumber(raw, integer);
          if (n !== undefined) onChange(n);
        }
      }}
    />
  );
}

/** Stop strings, one per line; `\n` stands for a line break inside one. */
function StopInput({ value, onChange, id }: { value: unknown; onChange(value: unknown): void; id: string }) {
  const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string') : [];
  const parse = (text: string) => {
    const items = text.split('\n').filter((line) => line !== '').map((line) => line.replace(/\\n/g, '\n'));
    return items.length > 0 ? items : undefined;
  };
  const [text, setText] = useText(list.length > 0 ? list : undefined, (v) => (v ?? []).map((s) => s.replace(/\n/g, '\\n')).join('\n'), parse);
  return (
    <textarea
      id={id}
      rows={2}
      value={text}
      onInput={(e) => {
        setText(e.currentTarget.value);
        onChange(parse(e.currentTarget.value));
      }}
    />
  );
}

function FieldInput({ field, options, onChange, models }: { field: Field; options: Options; onChange(options: Options): void; models: string[] }) {
  const t = useT();
  const value = options[keyOf(options, field)];
  const id = `prompt-option-${field.keys[0]}`;
  const set = (v: unknown) => onChange(withField(options, field, v));
  const text = typeof value === 'string' ? value : '';
  let input: JSX.Element;
  switch (field.kind) {
    case 'provider': {
      const choices = ['', 'local', 'openai', 'ollama'];
      if (text && !choices.includes(text)) choices.push(text);
      input = (
        <select id={id} value={text} onChange={(e) => set(e.currentTarget.value || undefined)}>
          {choices.map((c) => (
            <option key={c} value={c}>
              {c || t('providerDefault')}
            </option>
          ))}
        </select>
      );
      break;
    }
    case 'model':
    case 'text': {
      const list = field.kind === 'model' ? models : (field.suggest ?? []);
      input = (
        <>
          <input id={id} type="text" list={`${id}-list`} value={text} placeholder={t('unset')} onInput={(e) => set(e.currentTarget.value || undefined)} />
          <datalist id={`${id}-list`}>
            {list.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </>
      );
      break;
    }
    case 'textarea':
      input = <textarea id={id} rows={2} value={text} placeholder={t('unset')} onInput={(e) => set(e.currentTarget.value || undefined)} />;
      break;
    case 'boolean':
      input = <input id={id} type="checkbox" checked={value === true} onChange={(e) => set(e.currentTarget.checked ? true : undefined)} />;
      break;
    case 'integer':
    case 'number':
      input = <NumberInput id={id} field={field} value={value} onChange={set} />;
      break;
    case 'stop':
      input = <StopInput id={id} value={value} onChange={set} />;
      break;
  }
  return (
    <div class={`prompt-field prompt-field-${field.kind}`} data-option={field.keys[0]}>
      <label for={id} title={field.hint ? t(field.hint) : undefined}>
        {t(field.label)}
        {field.ownerOnly && (
          <span class="owner-only" title={t('ownerOnly')}>
            {t('ownerBadge')}
          </span>
        )}
      </label>
      {input}
    </div>
  );
}

/** The raw options as JSON; an edit that parses to an object replaces the options. */
function RawJson({ options, onChange }: { options: Options; onChange(options: Options): void }) {
  const t = useT();
  const [error, setError] = useState<string>();
  const parse = (text: string): Options | undefined => {
    try {
      const value: unknown = JSON.parse(text);
      return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Options) : undefined;
    } catch {
      return undefined;
    }
  };
  const [text, setText] = useText(options, (o) => JSON.stringify(o, null, 2), parse);
  useEffect(() => setError(undefined), [JSON.stringify(options)]);
  return (
    <div class="prompt-json">
      <textarea
        class="mono"
        aria-label={t('rawJson')}
        data-testid="options-json"
        rows={8}
        spellcheck={false}
        value={text}
        onInput={(e) => {
          const raw = e.currentTarget.value;
          setText(raw);
          try {
            const value: unknown = JSON.parse(raw);
            if (value === null || typeof value !== 'object' || Array.isArray(value)) {
              setError(t('jsonNotObject'));
              return;
            }
            setError(undefined);
            onChange(value as Options);
          } catch (err) {
            setError(t('jsonError', { message: (err as Error).message }));
          }
        }}
      />
      {error && (
        <p class="error" role="alert" data-testid="options-json-error">
          {error}
        </p>
      )}
    </div>
  );
}

export function OptionsForm({ options, onChange }: { options: Options; onChange(options: Options): void }) {
  const t = useT();
  const models = useModels();
  const presets = useLoad(loadPresets);
  const modelNames = (models.data?.available ?? []).map((entry) => entry.id);
  return (
    <section class="card prompt-options" aria-label={t('options')}>
      <h2>{t('options')}</h2>
      <div class="prompt-presets row" aria-label={t('presets')}>
        <span class="muted">{t('presets')}</span>
        {presets.data?.length === 0 && <span class="muted">{t('noPresets')}</span>}
        {presets.data?.map((preset) => (
          <button key={preset.name} type="button" class="chip" title={`${t('presetHint')}: ${JSON.stringify(preset.options)}`} data-preset={preset.name} onClick={() => onChange(withPreset(options, preset))}>
            {preset.name}
          </button>
        ))}
        <ErrorLine error={presets.error} />
      </div>
      <div class="prompt-fields">
        {FIELDS.map((field) => (
          <FieldInput key={field.keys[0]} field={field} options={options} onChange={onChange} models={modelNames} />
        ))}
      </div>
      <details class="prompt-raw" open>
        <summary>{t('rawJson')}</summary>
        <RawJson options={options} onChange={onChange} />
      </details>
    </section>
  );
}
