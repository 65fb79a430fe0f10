import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, UnsupportedError } from '../../src/errors.js';
import {
  DEFAULT_GENERATION_SETTINGS,
  dtypeToGgufType,
  generationSettings,
  mergeOptions,
  normalizeOptions,
  toRawOptions,
  usesChatMessages,
  type PromptOptions,
} from '../../src/prompt/options.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach(deepFreeze);
    Object.freeze(value);
  }
  return value;
}

describe('normalizeOptions', () => {
  it('reads the v1 schema', () => {
    const options = normalizeOptions({
      location: 'Local', model: 'elyza/ELYZA-japanese-Llama-2-7b-instruct', dtype: 'int4',
      template: '[INST] {instruction} {input} [/INST]', is_messages: false, output_tokens: 256,
      temperature: 0.7, top_p: 0.9, top_k: 40, repetition_penalty: 1.1,
    });
    expect(options).toEqual({
      provider: 'local', model: 'elyza/ELYZA-japanese-Llama-2-7b-instruct', dtype: 'Q4_K_M',
      template: '[INST] {instruction} {input} [/INST]', isMessages: false, maxNewTokens: 256,
      temperature: 0.7, topP: 0.9, topK: 40, repetitionPenalty: 1.1, extra: {},
    });
  });

  it('reads the later schema', () => {
    const options = normalizeOptions({
      provider: 'openai', endpoint: 'http://127.0.0.1:8080/v1', model: 'gpt-4o-mini', inst_template: '',
      chat_template: '{{ messages }}', max_new_tokens: 100, input_tokens: 4096, min_p: 0.1, seed: 7, stop: ['\n\n'],
    });
    expect(options).toEqual({
      provider: 'openai', endpoint: 'http://127.0.0.1:8080/v1', model: 'gpt-4o-mini', template: '',
      chatTemplate: '{{ messages }}', maxNewTokens: 100, inputTokens: 4096, minP: 0.1, seed: 7, stop: ['\n\n'], extra: {},
    });
  });

  it('prefers the later key when both names are present and treats null as unset', () => {
    expect(normalizeOptions({ max_new_tokens: 10, output_tokens: 20 }).maxNewTokens).toBe(10);
    expect(normalizeOptions({ max_new_tokens: null, output_tokens: 20 }).maxNewTokens).toBe(20);
    expect(normalizeOptions({ inst_template: 'new', template: 'old' }).template).toBe('new');
    expect(normalizeOptions({ provider: 'openai', location: 'Local' }).provider).toBe('openai');
    expect(normalizeOptions({ temperature: null })).toEqual({ extra: {} });
    expect(normalizeOptions(undefined)).toEqual({ extra: {} });
  });

  it.each([
    ['Local', 'local'], ['local', 'local'], ['Llama.cpp', 'local'], ['trllm', 'local'], ['OpenAI', 'openai'], ['openai', 'openai'],
  ])('maps provider %s to %s', (value, expected) => {
    expect(normalizeOptions({ provider: value }).provider).toBe(expected);
    expect(normalizeOptions({ location: value }).provider).toBe(expected);
  });

  it.each([
    ['', 'http://localhost:11434/v1'],
    ['http://gpu:11434', 'http://gpu:11434/v1'],
    ['http://gpu:11434/', 'http://gpu:11434/v1'],
    ['http://gpu:11434/v1', 'http://gpu:11434/v1'],
    ['http://gpu:11434/v1/', 'http://gpu:11434/v1'],
  ])('maps ollama at %j to openai at %s', (endpoint, expected) => {
    expect(normalizeOptions({ provider: 'ollama', endpoint })).toMatchObject({ provider: 'openai', endpoint: expected });
  });

  it.each(['Anthropic', 'Google', 'anthropic', 'googleai'])('refuses %s with a clear UnsupportedError', (provider) => {
    expect(() => normalizeOptions({ provider })).toThrow(UnsupportedError);
    expect(() => normalizeOptions({ location: provider })).toThrow(/not supported, use an OpenAI-compatible endpoint/);
  });

  it('refuses unknown providers', () => {
    expect(() => normalizeOptions({ provider: 'mystery' })).toThrow(/^Expected local, openai, ollama .* for provider but received "mystery"$/);
  });

  it.each([
    [{ temperature: 'hot' }, /^Expected a number >= 0 for temperature but received "hot"$/],
    [{ top_p: 1.5 }, /^Expected a number between 0 and 1 for top_p but received 1.5$/],
    [{ top_k: 2.5 }, /^Expected an integer >= 0 for top_k but received 2.5$/],
    [{ output_tokens: '256' }, /^Expected an integer >= 0 for output_tokens but received "256"$/],
    [{ is_messages: 'yes' }, /^Expected a boolean for is_messages but received "yes"$/],
    [{ stop: [1] }, /^Expected a string or an array of strings for stop but received an array of 1$/],
    [{ model: 3 }, /^Expected a string for model but received 3$/],
    [{ dtype: 'int3' }, /for dtype but received "int3"$/],
  ])('validates types: %j', (raw, pattern) => {
    expect(() => normalizeOptions(raw)).toThrow(InvalidArgumentError);
    expect(() => normalizeOptions(raw)).toThrow(pattern);
  });

  it('refuses options that are not an object', () => {
    expect(() => normalizeOptions([1], 'options')).toThrow(/^Expected an options object for options but received an array of 1$/);
    expect(() => normalizeOptions('x')).toThrow(InvalidArgumentError);
  });

  it('keeps unknown keys in extra as deep copies', () => {
    const raw = { temperature: 0.5, my_ui: { color: 'red', list: [1, 2] }, note: 'あかちゃん' };
    const options = normalizeOptions(raw);
    expect(options.extra).toEqual({ my_ui: { color: 'red', list: [1, 2] }, note: 'あかちゃん' });
    raw.my_ui.list.push(3);
    expect(options.extra.my_ui).toEqual({ color: 'red', list: [1, 2] });
  });

  it('keeps a __proto__ key as data without touching prototypes', () => {
    const options = normalizeOptions(JSON.parse('{"__proto__": {"polluted": true}}'));
    expect(Object.keys(options.extra)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(options.extra)).toBe(Object.prototype);
  });

  it('turns stop given as one string into a list', () => {
    expect(normalizeOptions({ stop: '###' }).stop).toEqual(['###']);
    expect(normalizeOptions({ stop: '' }).stop).toEqual([]);
  });
});

describe('dtypeToGgufType', () => {
  it.each([
    ['', ''], ['int4', 'Q4_K_M'], ['int8', 'Q8_0'], ['fp16', 'F16'], ['bf16', 'BF16'], ['INT4', 'Q4_K_M'],
    ['q4_k_m', 'Q4_K_M'], ['Q8_0', 'Q8_0'], ['iq4_xs', 'IQ4_XS'], ['f32', 'F32'],
  ])('%j -> %j', (dtype, expected) => {
    expect(dtypeToGgufType(dtype)).toBe(expected);
  });

  it('refuses unknown precisions', () => {
    expect(() => dtypeToGgufType('q9_z')).toThrow(/^Expected '', int4, int8, fp16, bf16 or a GGUF type such as Q4_K_M for dtype but received "q9_z"$/);
  });
});

describe('mergeOptions', () => {
  it('merges prompt -> preset -> overrides without mutating any layer', () => {
    const prompt = deepFreeze(normalizeOptions({ model: 'a.gguf', temperature: 0.7, stop: ['x'], ui: { keep: 1 } }));
    const preset = deepFreeze(normalizeOptions({ model: 'b.gguf', top_k: 20, ui: { from: 'preset' } }));
    const overrides = deepFreeze(normalizeOptions({ temperature: 0.1 }));
    const merged = mergeOptions(prompt, preset, overrides);
    expect(merged).toEqual({ model: 'b.gguf', temperature: 0.1, topK: 20, stop: ['x'], extra: { ui: { from: 'preset' } } });
    expect(prompt.temperature).toBe(0.7);
    merged.stop!.push('y');
    (merged.extra.ui as Record<string, unknown>).from = 'changed';
    expect(prompt.stop).toEqual(['x']);
    expect(preset.extra.ui).toEqual({ from: 'preset' });
  });

  it('skips undefined layers', () => {
    expect(mergeOptions(undefined, normalizeOptions({ seed: 1 }), undefined)).toEqual({ seed: 1, extra: {} });
  });
});

describe('generationSettings and mode', () => {
  it('applies defaults and never includes unknown keys', () => {
    const settings = generationSettings(normalizeOptions({ temperature: 0.2, secret_flag: true }));
    expect(settings).toEqual({ ...DEFAULT_GENERATION_SETTINGS, temperature: 0.2 });
    expect(settings).not.toHaveProperty('secret_flag');
  });

  it('passes every set value through', () => {
    const settings = generationSettings(normalizeOptions({
      temperature: 0, top_p: 0.5, top_k: 5, min_p: 0.2, repetition_penalty: 1.3, presence_penalty: 0.5, frequency_penalty: -0.5,
      seed: 42, stop: 'END', max_new_tokens: 64, input_tokens: 2048, response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' } } },
    }));
    // The engine's names: the settings go to generate() as they are.
    expect(settings).toEqual({
      temperature: 0, topP: 0.5, topK: 5, minP: 0.2, repeatPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: -0.5, seed: 42, stop: ['END'], maxTokens: 64, contextSize: 2048,
      responseFormat: { type: 'json_schema', name: 'n', schema: { type: 'object' } },
    });
  });

  it('treats seed -1 as random and 0 tokens as default', () => {
    const settings = generationSettings(normalizeOptions({ seed: -1, max_new_tokens: 0, input_tokens: 0 }));
    expect(settings.seed).toBeUndefined();
    expect(settings.maxTokens).toBe(DEFAULT_GENERATION_SETTINGS.maxTokens);
    expect(settings.contextSize).toBeUndefined();
  });

  it('uses chat messages unless a text template is given and is_messages is off', () => {
    expect(usesChatMessages(normalizeOptions({}))).toBe(true);
    expect(usesChatMessages(normalizeOptions({ template: '{instruction}{input}' }))).toBe(false);
    expect(usesChatMessages(normalizeOptions({ template: '{instruction}{input}', is_messages: true }))).toBe(true);
  });
});

describe('toRawOptions', () => {
  it('writes the later schema and round-trips through normalizeOptions', () => {
    const options: PromptOptions = normalizeOptions({
      location: 'OpenAI', endpoint: 'http://x/v1', template: 't', output_tokens: 9, is_messages: true, custom: [1, { a: 'b' }],
    });
    const raw = toRawOptions(options);
    expect(raw).toEqual({ provider: 'openai', endpoint: 'http://x/v1', inst_template: 't', is_messages: true, max_new_tokens: 9, custom: [1, { a: 'b' }] });
    expect(normalizeOptions(raw)).toEqual(options);
  });
});
