/**
 * The prompt tab's calls: saved prompts (GET/PUT/DELETE /api/prompts/...), the test-mode setting,
 * presets, and a run of the draft as POST /api/prompt/run with `stream: true` (SSE: `detail` once
 * evaluated, `text` per chunk, then `done` or `error`; see the route's OpenAPI description).
 */
import { del, events, get, put } from '../../api';
import { promptPath } from '../../components/catalog';
import { statsFrom, type RunStats } from '../../components/stats';

export type Options = Record<string, unknown>;

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface SentMessage {
  role: string;
  content: string;
}

/** One part of the evaluated instruction: literal text (source null) or a function's output. */
export interface EvaluatedPart {
  source: string | null;
  line: number;
  column: number;
  output: string | SentMessage[];
}

export interface RunDetail {
  instruction: string;
  parts: EvaluatedPart[];
  messages: SentMessage[] | null;
  templateText: string | null;
  options: Options;
}

export interface RunDone {
  text: string;
  model: string;
  stopReason: string;
  renderedPrompt: string | null;
  stats: RunStats;
}

export type RunEvent = { type: 'detail'; detail: RunDetail } | { type: 'text'; text: string } | { type: 'done'; done: RunDone };

/** A run's failure as the server told it (an `error` event), with the instruction position of a template error. */
export class RunError extends Error {
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
    this.name = 'RunError';
  }
}

export const savePrompt = (name: string, instruction: string, options: Options) => put(promptPath(name), { instruction, options });
export const deletePrompt = (name: string) => del(promptPath(name));

export async function loadTestMode(signal?: AbortSignal): Promise<boolean> {
  return (await get<{ settings: Record<string, unknown> }>('/api/settings', signal)).settings.is_test === true;
}

export async function setTestMode(on: boolean): Promise<boolean> {
  return (await put<{ settings: Record<string, unknown> }>('/api/settings', { is_test: on })).settings.is_test === true;
}

export interface Preset {
  name: string;
  options: Options;
}

export async function loadPresets(signal?: AbortSignal): Promise<Preset[]> {
  return (await get<{ presets: Preset[] }>('/api/presets', signal)).presets;
}

export interface RunRequest {
  name: string;
  instruction: string;
  options: Options;
  input: string;
  /** Earlier turns (chat mode). */
  history: ChatTurn[];
}

/** Streams one run; aborting `signal` closes the connection, which stops the generation on the server. */
export async function* runPrompt(request: RunRequest, signal: AbortSignal): AsyncGenerator<RunEvent> {
  const body = { name: request.name || undefined, instruction: request.instruction, input: request.input, options: request.options, messages: request.history, stream: true };
  for await (const event of events('/api/prompt/run', body, signal)) {
    const data = JSON.parse(event.data) as Record<string, unknown>;
    if (data.type === 'detail') {
      yield {
        type: 'detail',
        detail: {
          instruction: String(data.instruction ?? ''),
          parts: (data.parts ?? []) as EvaluatedPart[],
          messages: (data.messages ?? null) as SentMessage[] | null,
          templateText: typeof data.template_text === 'string' ? data.template_text : null,
          options: (data.options ?? {}) as Options,
        },
      };
    } else if (data.type === 'text') {
      yield { type: 'text', text: String(data.text ?? '') };
    } else if (data.type === 'done') {
      yield {
        type: 'done',
        done: {
          text: String(data.text ?? ''),
          model: String(data.model ?? ''),
          stopReason: String(data.stop_reason ?? ''),
          renderedPrompt: typeof data.rendered_prompt === 'string' ? data.rendered_prompt : null,
          stats: statsFrom(data),
        },
      };
      return;
    } else if (data.type === 'error') {
      throw new RunError(String(data.message ?? 'The run failed'), typeof data.line === 'number' ? data.line : undefined, typeof data.column === 'number' ? data.column : undefined);
    }
  }
  if (!signal.aborted) throw new Error('The stream ended before the run was done (the server closed the connection)');
}
