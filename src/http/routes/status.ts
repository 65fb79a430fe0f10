/**
 * Server status for people and monitors: health (queue, model state) and the models in play.
 */
import { basename, dirname, join } from 'node:path';
import { addonStatus } from '../../engine/addon.js';
import { serverTime, withoutPaths } from '../errors.js';
import { modelFileName, type RouteContext, type RouteSpec } from '../route.js';

export function statusRoutes(ctx: RouteContext): RouteSpec[] {
  const { akachat, catalog, queue, state } = ctx;
  // HTTP callers see names, the banner shows the owner the paths.
  const loadedNames = () => akachat.models.loaded.map(modelFileName);
  return [
    {
      method: 'GET',
      path: '/api/health',
      summary: 'Health: default model state, queue, version',
      tags: ['status'],
      public: true,
      errors: 'akachat',
      responses: { 200: { description: '{status:"ok" (or "degraded" when the native addon cannot load: local models cannot run), servertime, version, addon, model, default_model, loaded, queue}' } },
      handler: (c) => {
        const addon = addonStatus();
        return c.json({
          status: addon.ok ? 'ok' : 'degraded',
          servertime: serverTime(),
          // A public route: models by name and files without their folders (the banner shows the owner the paths).
          addon: addon.ok ? { loaded: true, path: join(basename(dirname(addon.path)), basename(addon.path)), ...(addon.notes.length ? { notes: addon.notes } : {}) } : { loaded: false, error: withoutPaths(addon.message) },
          version: ctx.version,
          uptime_s: Math.round((Date.now() - state.startedAt) / 1000),
          model: state.model,
          ...(state.modelError ? { model_error: withoutPaths(state.modelError) } : {}),
          default_model: catalog.defaultModelId() ?? null,
          loaded: loadedNames(),
          queue: { running: queue.running, waiting: queue.waiting, max_waiting: queue.maxWaiting },
        });
      },
    },
    {
      method: 'GET',
      path: '/api/models',
      summary: 'The default model, the models loaded now, presets and prompts usable as "model"',
      tags: ['status'],
      errors: 'akachat',
      responses: { 200: { description: '{default_model, default_model_id (the same name, kept for older clients), state, loaded (names), available}' } },
      handler: async (c) => c.json({
        default_model: catalog.defaultModelId() ?? null,
        default_model_id: catalog.defaultModelId() ?? null,
        state: state.model,
        loaded: loadedNames(),
        available: await catalog.list(),
      }),
    },
  ];
}
