/** Lists several tabs pick from: model names (models, presets, prompts usable as "model") and saved prompts, and a saved prompt itself. */
import { get } from '../api';
import { useLoad, type Loaded } from './status';

export interface CatalogEntry {
  id: string;
  kind: 'model' | 'preset' | 'prompt';
}

export interface ModelsReply {
  default_model_id: string | null;
  state: string;
  available: CatalogEntry[];
}

/** GET /api/models: the names a request may choose as `model`. */
export function useModels(): Loaded<ModelsReply> {
  return useLoad((signal) => get<ModelsReply>('/api/models', signal));
}

/** GET /api/prompts: saved prompt names (sub-folders as `folder/name`). */
export function usePromptNames(): Loaded<string[]> {
  return useLoad(async (signal) => (await get<{ prompts: string[] }>('/api/prompts', signal)).prompts);
}

/** A saved prompt's URL: `folder/name` with each segment escaped. */
export function promptPath(name: string): string {
  return `/api/prompts/${name.split('/').map(encodeURIComponent).join('/')}`;
}

/** A saved prompt's instruction and options (GET /api/prompts/:name). */
export async function loadPrompt(name: string, signal?: AbortSignal): Promise<{ instruction: string; options: Record<string, unknown> }> {
  const stored = await get<{ instruction: string; options: Record<string, unknown> | null }>(promptPath(name), signal);
  return { instruction: stored.instruction, options: stored.options ?? {} };
}
