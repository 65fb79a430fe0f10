/**
 * Management routes for batches (the playground's batch tab): start one in the background, watch
 * its progress and cell results as SSE, cancel it, and read its reports (also of earlier runs,
 * from `log/`). Its models are names the server lists (mapped to their files here) or a remote
 * service's model names; a path or an `hf:` reference is the owner's (`akachat batch`), not a caller's.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Context } from 'hono';
import { parseChecks } from '../../batch/checks.js';
import type { BatchOptions } from '../../batch/batch.js';
import { NotFoundError, OwnerOnlyError } from '../../errors.js';
import { isHubReference } from '../../llm/hub.js';
import type { ModelCatalog } from '../../run/catalog.js';
import { expectInteger, expectString, invalid } from '../../validate.js';
import type { JsonSchema } from '../openapi.js';
import { isRecord, readJson, streamResponse, type RouteContext, type RouteSpec } from '../route.js';
import { SSE_HEADERS, sseEvent } from '../sse.js';

const TAGS = ['batch'];

/** Report formats and their files' extensions and types. */
const REPORTS: Readonly<Record<string, { ext: string; type: string }>> = {
  json: { ext: 'json', type: 'application/json; charset=utf-8' },
  csv: { ext: 'csv', type: 'text/csv; charset=utf-8' },
  md: { ext: 'md', type: 'text/markdown; charset=utf-8' },
  html: { ext: 'html', type: 'text/html; charset=utf-8' },
  log: { ext: 'log', type: 'text/plain; charset=utf-8' },
  jsonl: { ext: 'jsonl', type: 'application/x-ndjson; charset=utf-8' },
};

const START_SCHEMA: JsonSchema = {
  type: 'object',
  properties: {
    prompts: { type: 'array', items: { type: 'string' }, description: 'Saved prompt names; default: every saved prompt' },
    models: { type: 'array', items: { type: 'string' }, description: 'Names listed by /v1/models (files of the models folder, the default model, presets) or remote model names; "" = the prompt\'s own' },
    temperatures: { description: 'Numbers, or the original\'s space-separated string', oneOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }] },
    inputs: { type: 'array', items: { type: 'string' } },
    repeats: { type: 'integer', minimum: 1 },
    overrides: { type: 'object', description: 'Options for every cell (max_new_tokens, seed, ...)' },
    checks: { type: 'array', items: { type: 'object' }, description: 'contains, regex, equals, maxLength, isJson, judge' },
  },
};

function parseBatchBody(body: Record<string, unknown>): Omit<BatchOptions, 'name'> {
  const strings = (name: string): string[] | undefined => {
    const value = body[name];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw invalid('an array of strings', name, value);
    return value.map((item, i) => expectString(item, `${name}[${i}]`));
  };
  const temperatures = body.temperatures;
  if (temperatures !== undefined && typeof temperatures !== 'string' && !Array.isArray(temperatures)) throw invalid('an array of numbers or a space-separated string', 'temperatures', temperatures);
  if (body.overrides !== undefined && !isRecord(body.overrides)) throw invalid('an options object', 'overrides', body.overrides);
  return {
    prompts: strings('prompts'),
    models: strings('models'),
    temperatures: temperatures as number[] | string | undefined,
    inputs: strings('inputs'),
    repeats: body.repeats === undefined ? undefined : expectInteger(body.repeats, 'repeats', 1, 1000),
    overrides: body.overrides as Record<string, unknown> | undefined,
    checks: parseChecks(body.checks),
  };
}

/** A listed name becomes the model it names; a path or hf: reference is refused; other names (remote models) pass. */
async function callerModels(models: readonly string[] | undefined, catalog: ModelCatalog): Promise<string[] | undefined> {
  if (!models) return undefined;
  return Promise.all(models.map(async (model, i) => {
    if (model === '') return model;
    const listed = await catalog.modelOverride(model);
    if (listed) return listed;
    if (isHubReference(model) || isAbsolute(model) || /\.gguf$/i.test(model) || model.split(/[\\/]/).includes('..')) {
      throw new OwnerOnlyError(`models[${i}] ${JSON.stringify(model)} is not a model this server lists: a batch over HTTP names listed models (GET /v1/models) or a remote service's models; files and hf: references are for \`akachat batch\` on the server`);
    }
    return model;
  }));
}

export function batchRoutes(ctx: RouteContext): RouteSpec[] {
  const common = { errors: 'akachat' as const, management: true, tags: TAGS };
  const id = (c: Context) => c.req.param('id')!;

  return [
    {
      ...common,
      method: 'POST',
      path: '/api/batch',
      summary: 'Start a batch in the background: prompts x models x temperatures x inputs',
      description: 'Answers at once with the run\'s id (also the name of its report files in log/); watch it with GET /api/batch/{id}/events.',
      requestBody: { schema: START_SCHEMA, example: { models: ['model-a', 'model-b'], temperatures: '0.1 0.7', inputs: ['こんにちは'], checks: [{ type: 'maxLength', value: 200 }] } },
      responses: { 202: { description: '{id, state, total, done, startedAt}' } },
      handler: async (c) => {
        const options = parseBatchBody(await readJson(c));
        return c.json(await ctx.batches.start({ ...options, models: await callerModels(options.models, ctx.catalog) }), 202);
      },
    },
    {
      ...common,
      method: 'GET',
      path: '/api/batch',
      summary: 'Batch runs of this server, newest first',
      responses: { 200: { description: '{runs: [{id, state, total, done, summary?}]}' } },
      handler: (c) => c.json({ runs: ctx.batches.list() }),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/batch/:id',
      summary: 'A batch run: state, progress, summary and the cell results so far',
      responses: { 200: { description: '{id, state, total, done, summary?, results}' }, 404: { description: 'No such run' } },
      handler: (c) => c.json({ ...ctx.batches.status(id(c)), results: ctx.batches.results(id(c)) }),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/batch/:id/events',
      summary: 'Watch a batch run: SSE events start, cell {result}, progress {done, total, etaMs}, then done {summary} or error',
      description: 'Events already sent are replayed first, so a watcher may connect at any time.',
      responses: { 200: { description: 'SSE events', contentType: 'text/event-stream' } },
      // The watch lasts as long as the batch: only the client leaving ends it, not the request timeout.
      handler: (c) => {
        const events = ctx.batches.events(id(c), c.req.raw.signal);
        async function* frames() {
          for await (const event of events) yield sseEvent(event);
        }
        ctx.batches.status(id(c)); // 404 before the stream starts
        return streamResponse(frames(), SSE_HEADERS);
      },
    },
    {
      ...common,
      method: 'DELETE',
      path: '/api/batch/:id',
      summary: 'Cancel a batch run (the cells done so far are reported)',
      responses: { 200: { description: 'The run\'s status' } },
      handler: (c) => c.json(ctx.batches.cancel(id(c))),
    },
    {
      ...common,
      method: 'GET',
      path: '/api/batch/:id/report/:format',
      summary: 'A batch report file: json, csv, md, html, log (the original layout) or jsonl (the journal)',
      description: 'Also for runs of earlier server starts: the files are read from log/.',
      responses: { 200: { description: 'The file' }, 404: { description: 'No such run or report (yet)' } },
      handler: async (c) => {
        const name = id(c);
        const format = REPORTS[c.req.param('format')!];
        if (!/^batch_[\w.-]+$/.test(name) || name.includes('..')) throw invalid('a batch run id such as batch_2026-01-31_12-00-00', 'id', name);
        if (!format) throw invalid(`one of ${Object.keys(REPORTS).join(', ')}`, 'format', c.req.param('format'));
        let text: string;
        try {
          text = await readFile(join(ctx.akachat.dataDir, 'log', `${name}.${format.ext}`), 'utf8');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`No ${c.req.param('format')} report for ${name} (yet: json, csv, md and html are written when the run ends)`);
          throw error;
        }
        return new Response(text, { headers: { 'Content-Type': format.type, 'Content-Disposition': `inline; filename="${name}.${format.ext}"` } });
      },
    },
  ];
}
