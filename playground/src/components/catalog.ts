/** Lists several tabs pick from: model names (models, presets, prompts usable as "model") and saved prompts. */
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
