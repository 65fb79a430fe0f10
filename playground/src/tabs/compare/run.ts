/**
 * One column's run: POST /api/prompt/run with `stream: true` (the owner's run of an instruction
 * and options, a management route), read as its SSE events: `detail` once evaluated, `text` per
 * chunk, then `done` with the timings or `error`.
 */
import { events } from '../../api';
import { statsFrom, type RunStats } from '../../components/stats';

/** What a column sends: the shared prompt and input with its own generation parameters. */
export interface ColumnRequest {
  /** The prompt's name (shown in the logs), empty for an inline instruction. */
  name: string;
  instruction: string;
  /** The prompt's own options, the column's parameters laid over them. */
  options: Record<string, unknown>;
  input: string;
  /** A name listed by /api/models, or undefined for the prompt's (or the server's default) model. */
  model?: string;
}

export type RunEvent =
  /** The response began: the request got its slot (with `--parallel 1` columns take turns). */
  | { type: 'started' }
  | { type: 'text'; text: string }
  | { type: 'done'; text: string; model?: string; stats: RunStats };

/** Streams one column; throws ApiError / Error with the server's message, or an AbortError on stop. */
export async function* runColumn(request: ColumnRequest, signal: AbortSignal): AsyncGenerator<RunEvent> {
  const body = { name: request.name || undefined, instruction: request.instruction, input: request.input, options: request.options, model: request.model, stream: true };
  let started = false;
  for await (const event of events('/api/prompt/run', body, signal)) {
    if (!started) {
      started = true;
      yield { type: 'started' };
    }
    const data = JSON.parse(event.data) as Record<string, unknown>;
    if (data.type === 'text') yield { type: 'text', text: String(data.text ?? '') };
    else if (data.type === 'done') {
      yield { type: 'done', text: String(data.text ?? ''), model: typeof data.model === 'string' ? data.model : undefined, stats: statsFrom(data) };
      return;
    } else if (data.type === 'error') throw new Error(String(data.message ?? 'The run failed'));
  }
  if (!signal.aborted) throw new Error('The stream ended before the run was done (the server closed the connection)');
}
