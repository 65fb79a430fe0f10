/**
 * Management routes for the playground's settings tab: the models this server lists and which of
 * them are loaded (load / unload / default by LISTED NAME only), `hf:` pulls, and which settings
 * an HTTP caller may change. The trust rule holds here too: a caller names listed models, never a
 * path; a download happens only when the owner started the server with `allowPull`
 * (`serve --allow-pull`), and settings other than `is_test` (API keys of remote services,
 * folders, endpoints) change only with `allowSettings` (`serve --allow-settings`).
 */
import { basename, join, relative, resolve, sep } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Context } from 'hono';
import { ChunkQueue } from '../../async/chunk-queue.js';
import { OwnerOnlyError } from '../../errors.js';
import { hubCacheFolder, hubFileReference, isHubReference, parseHubReference } from '../../llm/hub.js';
import { SETTINGS_ENVIRONMENT, type SettingsValues } from '../../settings/settings.js';
import { invalid } from '../../validate.js';
import { errorMessage, HttpError } from '../errors.js';
import type { JsonSchema } from '../openapi.js';
import { modelFileName, readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { SSE_HEADERS, sseEvent } from '../sse.js';

/** What the owner allowed HTTP callers beyond the trust rule when starting the server. */
export interface OwnerOptIns {
  /** `hf:` downloads started by requests (`POST /api/models/pull`, a preset or prompt naming an uncached `hf:` model); without it requests use cached files only. */
  allowPull?: boolean;
  /**
   * Owner-only changes from management callers: every `config.json` setting through `PUT /api/settings`
   * (without it only {@link CALLER_SETTINGS}), and prompt and preset options that choose what runs and
   * where (without it only as stored: see checkOptionsChange in manage.ts).
   */
  allowSettings?: boolean;
}

/** Settings any management caller may change: they choose nothing that runs, nowhere data goes. */
export const CALLER_SETTINGS: ReadonlySet<string> = new Set(['is_test']);

/**
 * Refuses (OwnerOnlyError, HTTP 403) a settings change that touches an owner-only key, unless the
 * owner allowed every setting. A key sent back as it is (`current`) changes nothing and passes.
 * Called by `PUT /api/settings` before anything is written.
 */
export function checkSettingsChange(changes: SettingsValues, optIns: OwnerOptIns, current: SettingsValues): void {
  if (optIns.allowSettings) return;
  const refused = Object.keys(changes).filter((key) => !CALLER_SETTINGS.has(key) && !(Object.hasOwn(current, key) && isDeepStrictEqual(changes[key], current[key])));
  if (refused.length === 0) return;
  const variables = Object.entries(SETTINGS_ENVIRONMENT).filter(([, key]) => refused.includes(key)).map(([variable, key]) => `${key}: ${variable}`);
  throw new OwnerOnlyError(
    `${refused.join(', ')} ${refused.length === 1 ? 'is' : 'are'} chosen by the server's owner: edit config.json in the data folder` +
      `${variables.length ? ` or set the environment (${variables.join(', ')})` : ''}, or start the server with --allow-settings to change ${refused.length === 1 ? 'it' : 'them'} from here; a caller may change ${[...CALLER_SETTINGS].join(', ')}`,
  );
}

const TAGS = ['settings'];
const MODEL_BODY: JsonSchema = { type: 'object', required: ['model'], properties: { model: { type: 'string', description: 'A model name listed by GET /api/models/state' } } };

interface ListedModel {
  name: string;
  kind: 'model' | 'preset';
  size?: number;
  /** A model file's reference (path or hf:) as the owner gave it; presets resolve their own. */
  ref?: string;
  /** The local file behind the name where it is known without a download. */
  path?: string;
}

export function modelsManageRoutes(ctx: RouteContext, optIns: OwnerOptIns): RouteSpec[] {
  const { akachat, catalog } = ctx;
  const common = { errors: 'akachat' as const, management: true, tags: TAGS };
  let pulling: string | undefined;
  // The owner's --model stays listed after another default is chosen, so it can be chosen back.
  const startDefault = akachat.defaultModel;

  /** The names a caller may load: the default model, models-folder files and presets (with their files when known). */
  async function listed(): Promise<ListedModel[]> {
    const folder = akachat.modelsDir;
    const models: ListedModel[] = [];
    for (const entry of await catalog.list()) {
      if (entry.kind === 'prompt') continue;
      let ref: string | undefined;
      if (entry.kind === 'preset') ref = (await akachat.presets.getOptions(entry.id)).model;
      else if (entry.id === catalog.defaultModelId()) ref = akachat.defaultModel;
      else if (folder) ref = join(folder, `${entry.id}.gguf`);
      models.push({ name: entry.id, kind: entry.kind, ...(entry.size !== undefined ? { size: entry.size } : {}), ...(entry.kind === 'model' ? { ref } : {}), path: ref && localFile(ref) });
    }
    if (startDefault && startDefault !== akachat.defaultModel && !models.some((m) => m.ref === startDefault)) {
      const name = isHubReference(startDefault) ? startDefault : modelFileName(startDefault);
      if (!models.some((m) => m.name === name)) models.push({ name, kind: 'model', ref: startDefault, path: localFile(startDefault) });
    }
    return models;
  }

  /** A reference's file without downloading: a path, or an `hf:` file reference's place in the cache. */
  function localFile(ref: string): string | undefined {
    if (!isHubReference(ref)) return resolve(ref);
    try {
      const hub = parseHubReference(ref);
      return hub.file ? join(hubCacheFolder(akachat.models.cacheDir, hub), ...hub.file.split('/')) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The name a loaded file is shown by: its listed name, else its file name (never its folder). */
  function nameOf(path: string, models: ListedModel[]): string {
    const listedName = models.find((model) => model.path === path)?.name;
    if (listedName) return listedName;
    const folder = akachat.modelsDir;
    if (folder && path.startsWith(folder + sep)) return relative(folder, path).split(sep).join('/').replace(/\.gguf$/i, '');
    return modelFileName(path);
  }

  async function requestedModel(c: Context, models: ListedModel[]): Promise<ListedModel> {
    const name = (await readJson(c)).model;
    if (typeof name !== 'string' || name === '') throw invalid('a model name listed by GET /api/models/state', 'model', name);
    const model = models.find((m) => m.name === name);
    if (!model) throw invalid(`a model name listed by GET /api/models/state (${models.map((m) => m.name).join(', ') || 'none listed'})`, 'model', name);
    return model;
  }

  /** Loads a listed model as a run of it would (preset options such as dtype and context size included). */
  async function load(model: ListedModel, signal: AbortSignal): Promise<void> {
    if (model.ref) return void (await akachat.models.acquire(model.ref, { signal })).release();
    const name = model.name;
    const target = await catalog.resolve(name);
    const options = await akachat.resolveOptions(target.kind === 'prompt' ? target.prompt.options : target.options);
    if ((options.provider ?? 'local') !== 'local' || !options.model) throw invalid('a local model (this one runs on an OpenAI-compatible service)', 'model', name);
    const lease = await akachat.models.acquire(options.model, { ggufType: options.dtype, contextSize: options.inputTokens || undefined, signal });
    lease.release();
  }

  async function state() {
    const models = await listed();
    const loaded = akachat.models.loaded;
    const loadedNames = loaded.map((path) => nameOf(path, models));
    const folder = akachat.modelsDir;
    return {
      default_model: catalog.defaultModelId() ?? null,
      models: models.map(({ name, kind, size }) => ({ name, kind, ...(size !== undefined ? { size } : {}), loaded: loadedNames.includes(name) })),
      loaded: loadedNames,
      // The folder's own name only: its place on disk is the owner's (the banner shows it).
      models_dir: folder ? { name: basename(folder), count: models.filter((m) => m.kind === 'model' && m.path?.startsWith(folder + sep)).length } : null,
      allow_pull: optIns.allowPull === true,
      allow_settings: optIns.allowSettings === true,
      caller_settings: [...CALLER_SETTINGS],
      settings_environment: Object.fromEntries(Object.entries(SETTINGS_ENVIRONMENT).map(([variable, key]) => [key, variable])),
    };
  }

  /** A free name for a pulled file's preset: its file name, or with `-2`, `-3`... when something listed has it. */
  async function presetFor(ref: string, file: string): Promise<string> {
    const base = modelFileName(file);
    const taken = new Set((await catalog.list()).map((entry) => entry.id));
    for (let n = 1; ; n++) {
      const name = n === 1 ? base : `${base}-${n}`;
      if (await akachat.presets.has(name)) {
        if ((await akachat.presets.get(name)).model === ref) return name;
      } else if (!taken.has(name)) return name;
    }
  }

  return [
    {
      ...common,
      method: 'GET',
      path: '/api/models/state',
      summary: 'Models this server lists and which are loaded, by name; what the owner allows (pulls, settings)',
      responses: { 200: { description: '{default_model, models: [{name, kind, size?, loaded}], loaded: [name], models_dir: {name, count} | null, allow_pull, allow_settings, caller_settings, settings_environment}' } },
      handler: async (c) => c.json(await state()),
    },
    {
      ...common,
      method: 'POST',
      path: '/api/models/load',
      summary: 'Load a listed model (default, models-folder file or preset) now, so the next run does not wait',
      requestBody: { schema: MODEL_BODY, example: { model: 'stories260K' } },
      responses: { 200: { description: 'The state after the load (as GET /api/models/state)' }, 400: { description: 'Not a listed model name' } },
      handler: async (c, signal) => {
        const model = await requestedModel(c, await listed());
        await load(model, signal);
        return c.json(await state());
      },
    },
    {
      ...common,
      method: 'POST',
      path: '/api/models/unload',
      summary: 'Unload a loaded model by the name GET /api/models/state shows (after the runs on it end)',
      requestBody: { schema: MODEL_BODY, example: { model: 'stories260K' } },
      responses: { 200: { description: 'The state after the unload' }, 400: { description: 'Not a loaded model' } },
      handler: async (c) => {
        const models = await listed();
        const name = (await readJson(c)).model;
        const path = akachat.models.loaded.find((p) => nameOf(p, models) === name);
        if (typeof name !== 'string' || !path) throw invalid(`the name of a loaded model (${akachat.models.loaded.map((p) => nameOf(p, models)).join(', ') || 'none is loaded'})`, 'model', name);
        await akachat.models.unload(path);
        return c.json(await state());
      },
    },
    {
      ...common,
      method: 'PUT',
      path: '/api/models/default',
      summary: 'Make a listed model file the default model until the server restarts (it is loaded first; --model sets it at start)',
      requestBody: { schema: MODEL_BODY, example: { model: 'stories260K' } },
      responses: { 200: { description: 'The state after the change' }, 400: { description: 'Not a listed model file' } },
      handler: async (c, signal) => {
        const model = await requestedModel(c, await listed());
        if (!model.ref) throw invalid('the name of a model file (the default model or a models-folder file; a preset is chosen per prompt)', 'model', model.name);
        await load(model, signal);
        akachat.defaultModel = model.ref;
        ctx.state.model = 'ready';
        delete ctx.state.modelError;
        return c.json(await state());
      },
    },
    {
      ...common,
      method: 'POST',
      path: '/api/models/pull',
      summary: 'Download an hf: model into the cache and list it as a preset (only when the server was started with --allow-pull)',
      description: 'Answers SSE events {type:"progress", file, downloaded, total} then {type:"done", name} (the preset now listed) or {type:"error", message}. Without --allow-pull: 403, run `akachat pull hf:...` on the server instead.',
      requestBody: { schema: { type: 'object', required: ['model'], properties: { model: { type: 'string', description: 'hf:owner/repo:QUANT or hf:owner/repo/file.gguf' } } }, example: { model: 'hf:ggml-org/models/tinyllamas/stories260K.gguf' } },
      responses: { 200: { description: 'SSE events', contentType: 'text/event-stream' }, 403: { description: 'Pulls are off on this server' }, 409: { description: 'Another pull is running' } },
      handler: async (c) => {
        const ref = (await readJson(c)).model;
        if (!optIns.allowPull) {
          throw new OwnerOnlyError(`Downloads are chosen by the server's owner: run \`akachat pull ${typeof ref === 'string' && isHubReference(ref) ? ref : 'hf:owner/repo:QUANT'}\` on the server's machine and list the model (--model, --models-dir or a preset in models.json), or start the server with --allow-pull to pull from here`);
        }
        if (typeof ref !== 'string' || !isHubReference(ref)) throw invalid('an hf: reference (hf:owner/repo:QUANT or hf:owner/repo/file.gguf)', 'model', ref);
        const hub = parseHubReference(ref);
        if (pulling) throw new HttpError(409, `A pull of ${pulling} is running: wait for it to end`, 'busy');
        pulling = ref;
        // The download lasts as long as the client watches: only its leaving stops it, not the request timeout.
        const signal = c.req.raw.signal;
        const events = new ChunkQueue<string>();
        const push = (event: unknown) => events.push(sseEvent(event));
        void (async () => {
          try {
            const path = await akachat.models.resolvePath(ref, {
              signal,
              onEvent: (event) => {
                if (event.type === 'download') push({ type: 'progress', file: event.progress.file, downloaded: event.progress.downloadedBytes, total: event.progress.totalBytes ?? null });
              },
            });
            // Listed by the exact file, so loading it later needs no network.
            const file = relative(hubCacheFolder(akachat.models.cacheDir, hub), path).split(sep).join('/');
            const exact = hubFileReference(hub, file);
            const name = await presetFor(exact, file);
            await akachat.presets.set(name, { model: exact });
            push({ type: 'done', name });
          } catch (error) {
            push({ type: 'error', message: errorMessage(error) });
          } finally {
            pulling = undefined;
            events.end();
          }
        })();
        // Read once; a client that leaves aborts the download through `signal`, and its end ends the queue.
        return streamResponse({ [Symbol.asyncIterator]: () => events.iterator('A pull\'s events', async () => {}) }, SSE_HEADERS);
      },
    },
  ];
}
