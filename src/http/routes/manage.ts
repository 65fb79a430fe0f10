/**
 * JSON routes the playground needs to manage one data folder: prompts, vars, the message log,
 * settings (secrets always masked) and presets. They are management routes: browser pages from
 * other origins may not call them unless configured. Names are checked by the stores (no `..`,
 * absolute paths or control characters); a refused name answers 400. A management caller is not
 * the owner: prompt and preset options that choose what runs and where are saved only as stored
 * (see {@link checkOptionsChange}) unless the owner started the server with `--allow-settings`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Context } from 'hono';
import { InvalidArgumentError, OwnerOnlyError } from '../../errors.js';
import { toChatMessage, type ChatMessage } from '../../prompt/messages.js';
import { normalizeOptions, type PromptOptions, type RawOptions } from '../../prompt/options.js';
import type { ModelCatalog } from '../../run/catalog.js';
import { redactUrl } from '../../settings/redact.js';
import { maskSecret, withoutMaskEchoes } from '../../settings/settings.js';
import { invalid } from '../../validate.js';
import type { JsonSchema } from '../openapi.js';
import { integerQuery, isRecord, readJson, type RouteContext, type RouteSpec } from '../route.js';
import { checkSettingsChange, type OwnerOptIns } from './models-manage.js';

const MESSAGE_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['role', 'content'],
  properties: { role: { enum: ['system', 'user', 'assistant', 'tool'] }, content: { type: 'string' } },
};

/** A path parameter, decoded; hono leaves a malformed escape as is, which the stores then refuse. */
function param(c: Context, name: string): string {
  return c.req.param(name) ?? '';
}

function ok(c: Context, extra: Record<string, unknown> = {}) {
  return c.json({ ok: true, ...extra });
}

/**
 * Option fields that choose what runs and where, by their stored keys (see callerOverrides):
 * a model file or hf: download, a remote service and its key, a Jinja chat template (it reaches
 * llama.cpp), the precision (a quantization) and the context size (memory). `inst_template` and
 * `is_messages` are not among them: they only lay out text the caller writes anyway (the
 * instruction) by plain replacement.
 */
const OWNER_OPTIONS: ReadonlyArray<{ field: keyof PromptOptions; keys: readonly string[] }> = [
  { field: 'provider', keys: ['provider', 'location'] },
  { field: 'endpoint', keys: ['endpoint'] },
  { field: 'apiKey', keys: ['api_key'] },
  { field: 'model', keys: ['model'] },
  { field: 'dtype', keys: ['dtype'] },
  { field: 'chatTemplate', keys: ['chat_template'] },
  { field: 'inputTokens', keys: ['input_tokens'] },
];

/**
 * Refuses (OwnerOnlyError, HTTP 403) options from a management caller that change an owner-only
 * field from what `stored` holds (`undefined`: nothing is stored), unless the owner allowed every
 * setting. Fields are compared as normalized, so a form sending back the stored options (under
 * old or new key names) passes; a `model` may also be set to a name listed by /v1/models.
 * `file` names where the owner sets them (`prompt/{name}.json`, `models.json`).
 */
export async function checkOptionsChange(options: RawOptions, stored: RawOptions | undefined, optIns: OwnerOptIns, catalog: ModelCatalog, file: string): Promise<void> {
  if (optIns.allowSettings) return;
  const sent = normalizeOptions(options);
  const before = normalizeOptions(stored ?? {});
  for (const { field, keys } of OWNER_OPTIONS) {
    if (isDeepStrictEqual(sent[field], before[field])) continue;
    const model = sent.model;
    if (field === 'model' && (model === undefined || model === '' || (await catalog.modelOverride(model)) !== undefined)) continue;
    const key = keys.find((k) => Object.hasOwn(options, k) && options[k] !== null) ?? keys[0];
    throw new OwnerOnlyError(
      `${key} is chosen by the server's owner: edit ${file} in the data folder, or start the server with --allow-settings to change it from here; ` +
        'a management caller may save generation parameters, templates of text (inst_template) and a model name listed by /v1/models',
    );
  }
}

/** A saved prompt's options as stored, or undefined when there is no such prompt (or the name is not a prompt name). */
async function storedPromptOptions(ctx: RouteContext, name: string): Promise<RawOptions | undefined> {
  try {
    return (await ctx.akachat.prompts.exists(name)) ? (await ctx.akachat.prompts.load(name)).rawOptions : undefined;
  } catch (error) {
    if (error instanceof InvalidArgumentError) return undefined;
    throw error;
  }
}

/** Stored options as a management caller is shown them: the api_key masked, URLs in endpoint and model without credentials. */
export function shownOptions(options: RawOptions): RawOptions {
  const shown = { ...options };
  if (typeof shown.api_key === 'string') shown.api_key = maskSecret(shown.api_key);
  for (const key of ['endpoint', 'model']) if (typeof shown[key] === 'string') shown[key] = redactUrl(shown[key]);
  return shown;
}

/** `options` with each value {@link shownOptions} masked and a form sent back as it was shown replaced by the stored one. */
function withStoredSecrets(options: RawOptions, stored: RawOptions | undefined): RawOptions {
  if (!stored) return options;
  const restored = { ...options };
  for (const key of ['api_key', 'endpoint', 'model']) {
    const value = stored[key];
    if (typeof value !== 'string' || !Object.hasOwn(options, key) || options[key] === value) continue;
    if (options[key] === (key === 'api_key' ? maskSecret(value) : redactUrl(value))) restored[key] = value;
  }
  return restored;
}

/**
 * A management caller's options for the prompt `name` (saved or run unsaved): masks it was shown
 * restored, and owner-only options only as the stored prompt has them (see {@link checkOptionsChange}).
 */
export async function callerPromptOptions(ctx: RouteContext, optIns: OwnerOptIns, name: string, options: unknown): Promise<RawOptions> {
  if (!isRecord(options)) throw invalid('an options object', 'options', options);
  const stored = name ? await storedPromptOptions(ctx, name) : undefined;
  const restored = withStoredSecrets(options, stored);
  await checkOptionsChange(restored, stored, optIns, ctx.catalog, `prompt/${name || '{name}'}.json`);
  return restored;
}

/** Saves a prompt for a management caller (see {@link callerPromptOptions}); shared by the management and the original save routes. */
export async function saveCallerPrompt(ctx: RouteContext, optIns: OwnerOptIns, name: string, instruction: unknown, options: unknown): Promise<void> {
  if (typeof instruction !== 'string') throw invalid('a string', 'instruction', instruction);
  await ctx.akachat.prompts.save(name, instruction, await callerPromptOptions(ctx, optIns, name, options));
}

function parseMessages(value: unknown, name: string): ChatMessage[] {
  if (!Array.isArray(value)) throw invalid('an array of {role, content} messages', name, value);
  return value.map((message, index) => toChatMessage(message, `${name}[${index}]`));
}

export function manageRoutes(ctx: RouteContext, optIns: OwnerOptIns = {}): RouteSpec[] {
  const { akachat } = ctx;
  const common = { errors: 'akachat' as const, management: true };

  const prompts: RouteSpec[] = [
    {
      ...common,
      method: 'GET',
      path: '/api/prompts',
      summary: 'List saved prompts',
      tags: ['prompts'],
      responses: { 200: { description: '{prompts: [name...]}' } },
      handler: async (c) => c.json({ prompts: await akachat.prompts.list() }),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/prompts/:name{.+}',
      summary: 'Load a prompt: its instruction and options as stored (api_key masked, URL credentials removed: sent back as shown, they stay as stored)',
      tags: ['prompts'],
      responses: { 200: { description: '{name, instruction, options}' }, 404: { description: 'No such prompt' } },
      handler: async (c) => {
        const stored = await akachat.prompts.load(param(c, 'name'));
        return c.json({ name: stored.name, instruction: stored.instruction, options: shownOptions(stored.rawOptions) });
      },
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/prompts/:name{.+}',
      summary: 'Save a prompt (instruction + options; owner-only options only as stored unless --allow-settings: 403)',
      tags: ['prompts'],
      requestBody: { schema: { type: 'object', properties: { instruction: { type: 'string' }, options: { type: 'object' } } }, example: { instruction: 'You are a cheerful avatar.', options: { max_new_tokens: 128 } } },
      handler: async (c) => {
        const name = param(c, 'name');
        const body = await readJson(c);
        await savePrompt(name, body);
        return ok(c, { name });
      },
    },
    {
      ...common,
      method: 'POST',
      path: '/api/prompts',
      summary: 'Save a prompt named in the body',
      tags: ['prompts'],
      requestBody: { schema: { type: 'object', required: ['name'], properties: { name: { type: 'string' }, instruction: { type: 'string' }, options: { type: 'object' } } }, example: { name: 'greeter', instruction: 'Greet warmly.', options: {} } },
      handler: async (c) => {
        const body = await readJson(c);
        if (typeof body.name !== 'string' || body.name === '') throw invalid('a prompt name', 'name', body.name);
        await savePrompt(body.name, body);
        return ok(c, { name: body.name });
      },
    },
    {
      ...common,
      method: 'DELETE',
      path: '/api/prompts/:name{.+}',
      summary: 'Delete a prompt (both files)',
      tags: ['prompts'],
      handler: async (c) => {
        await akachat.prompts.delete(param(c, 'name'));
        return ok(c);
      },
    },
  ];

  async function savePrompt(name: string, body: Record<string, unknown>): Promise<void> {
    await saveCallerPrompt(ctx, optIns, name, body.instruction ?? '', body.options ?? {});
  }

  const vars: RouteSpec[] = [
    {
      ...common,
      method: 'GET',
      path: '/api/vars',
      summary: 'List variables with their values',
      tags: ['vars'],
      responses: { 200: { description: '{vars: [{key, value}...]}' } },
      handler: async (c) => c.json({ vars: (await akachat.vars.entries()).map(([key, value]) => ({ key, value })) }),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/vars/:key',
      summary: 'Read one variable',
      tags: ['vars'],
      responses: { 200: { description: '{key, value}' }, 404: { description: 'Not set' } },
      handler: async (c) => {
        const key = param(c, 'key');
        return c.json({ key, value: await akachat.vars.get(key) });
      },
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/vars/:key',
      summary: 'Set one variable',
      tags: ['vars'],
      requestBody: { schema: { type: 'object', required: ['value'], properties: { value: { type: 'string' } } }, example: { value: 'Lily' } },
      handler: async (c) => {
        const key = param(c, 'key');
        const body = await readJson(c);
        if (typeof body.value !== 'string') throw invalid('a string', 'value', body.value);
        await akachat.vars.set(key, body.value);
        return ok(c, { key });
      },
    },
    {
      ...common,
      method: 'DELETE',
      path: '/api/vars/:key',
      summary: 'Delete one variable',
      tags: ['vars'],
      handler: async (c) => {
        await akachat.vars.delete(param(c, 'key'));
        return ok(c);
      },
    },
  ];

  const messages: RouteSpec[] = [
    {
      ...common,
      method: 'GET',
      path: '/api/messages',
      summary: 'The message log (log/messages.jsonl), oldest first',
      tags: ['messages'],
      parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 0 }, description: 'Only the newest n messages; 0 = all (default)' }],
      responses: { 200: { description: '{messages, count}' } },
      handler: async (c) => {
        const list = await akachat.messages.newest(integerQuery(c, 'limit') ?? 0);
        return c.json({ messages: list, count: list.length });
      },
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/messages',
      summary: 'Replace the whole message log',
      tags: ['messages'],
      requestBody: { schema: { type: 'object', required: ['messages'], properties: { messages: { type: 'array', items: MESSAGE_SCHEMA } } }, example: { messages: [{ role: 'user', content: 'hi' }] } },
      handler: async (c) => {
        const list = parseMessages((await readJson(c)).messages, 'messages');
        await akachat.messages.replace(list);
        return ok(c, { count: list.length });
      },
    },
    {
      ...common,
      method: 'POST',
      path: '/api/messages',
      summary: 'Append messages ({messages:[...]}) or one message ({role, content})',
      tags: ['messages'],
      requestBody: { schema: { anyOf: [{ type: 'object', properties: { messages: { type: 'array', items: MESSAGE_SCHEMA } } }, MESSAGE_SCHEMA] }, example: { role: 'user', content: 'こんにちは' } },
      handler: async (c) => {
        const body = await readJson(c);
        const list = 'messages' in body ? parseMessages(body.messages, 'messages') : [toChatMessage(body, 'the message')];
        await akachat.messages.append(list);
        return ok(c, { count: await akachat.messages.count() });
      },
    },
    {
      ...common,
      method: 'DELETE',
      path: '/api/messages',
      summary: 'Clear the message log',
      tags: ['messages'],
      handler: async (c) => {
        await akachat.messages.clear();
        return ok(c);
      },
    },
    {
      ...common,
      method: 'GET',
      path: '/api/messages/jsonl',
      summary: 'The message log as raw JSONL text (for a raw editor)',
      tags: ['messages'],
      responses: { 200: { description: 'JSONL', contentType: 'text/plain', schema: { type: 'string' } } },
      handler: async (c) => c.text(await akachat.messages.readText()),
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/messages/jsonl',
      summary: 'Replace the message log with raw JSONL text (every line checked first)',
      tags: ['messages'],
      requestBody: { contentType: 'text/plain', schema: { type: 'string' }, example: '{"role":"user","content":"hi"}\n' },
      handler: async (c) => {
        await akachat.messages.replaceText(await c.req.text());
        return ok(c, { count: await akachat.messages.count() });
      },
    },
  ];

  const settings: RouteSpec[] = [
    {
      ...common,
      method: 'GET',
      path: '/api/settings',
      summary: 'Settings (config.json with environment overrides), secrets masked',
      tags: ['settings'],
      responses: { 200: { description: '{settings}' } },
      handler: async (c) => c.json({ settings: await akachat.settings.masked() }),
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/settings',
      summary: 'Change settings: the body\'s keys are set, null removes one. A secret sent back in its masked form is left unchanged. Only is_test unless the server was started with --allow-settings (403 otherwise)',
      tags: ['settings'],
      requestBody: { schema: { type: 'object', additionalProperties: true }, example: { is_test: true } },
      responses: { 200: { description: '{settings} after the change, secrets masked' } },
      handler: async (c) => {
        // The playground shows secrets masked; saving its form back must not store the masks.
        const current = await akachat.settings.all();
        const changes = withoutMaskEchoes(await readJson(c), current);
        checkSettingsChange(changes, optIns, current);
        await akachat.settings.update(changes);
        return c.json({ settings: await akachat.settings.masked() });
      },
    },
  ];

  const presets: RouteSpec[] = [
    {
      ...common,
      method: 'GET',
      path: '/api/presets',
      summary: 'Model presets (models.json) in file order',
      tags: ['presets'],
      responses: { 200: { description: '{presets: [{name, options}...]}' } },
      handler: async (c) => c.json({ presets: (await akachat.presets.entries()).map(([name, options]) => ({ name, options: shownOptions(options) })) }),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/presets/:name{.+}',
      summary: 'One preset\'s options',
      tags: ['presets'],
      responses: { 200: { description: '{name, options}' }, 404: { description: 'No such preset' } },
      handler: async (c) => {
        const name = param(c, 'name');
        return c.json({ name, options: shownOptions(await akachat.presets.get(name)) });
      },
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/presets/:name{.+}',
      summary: 'Add or replace a preset (a model path, hf: reference, endpoint, key, chat template, provider, dtype or input_tokens only as stored, unless the server was started with --allow-settings: 403)',
      tags: ['presets'],
      requestBody: { schema: { type: 'object', required: ['options'], properties: { options: { type: 'object' } } }, example: { options: { model: 'hf:owner/repo:Q4_K_M', temperature: 0.7 } } },
      handler: async (c) => {
        const name = param(c, 'name');
        const body = await readJson(c);
        if (!isRecord(body.options)) throw invalid('an options object', 'options', body.options);
        const stored = (await akachat.presets.has(name)) ? await akachat.presets.get(name) : undefined;
        const options = withStoredSecrets(body.options, stored);
        await checkOptionsChange(options, stored, optIns, ctx.catalog, 'models.json');
        await akachat.presets.set(name, options);
        return ok(c, { name });
      },
    },
    {
      ...common,
      method: 'DELETE',
      path: '/api/presets/:name{.+}',
      summary: 'Delete a preset',
      tags: ['presets'],
      handler: async (c) => {
        await akachat.presets.delete(param(c, 'name'));
        return ok(c);
      },
    },
  ];

  return [...prompts, ...vars, ...messages, ...settings, ...presets];
}

