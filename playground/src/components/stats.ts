/** Timings of one streamed generation, as the prompt, compare and speech tabs show them. */

/** The server's numbers from a stream's final event (speech `done`, prompt-run `done`). */
export interface RunStats {
  /** Time to first token as the server measured it. */
  firstTokenMs?: number | null;
  durationMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  reusedTokens?: number;
  /** Generation speed as the server measured it, when it says (the prompt-run stream does). */
  tokensPerSecond?: number | null;
}

/** Reads the stats fields the stream routes send (snake_case, usage nested). */
export function statsFrom(event: Record<string, unknown>): RunStats {
  const usage = (event.usage ?? {}) as Record<string, unknown>;
  const num = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  return {
    firstTokenMs: num(event.first_token_ms) ?? null,
    durationMs: num(event.duration_ms),
    promptTokens: num(usage.prompt_tokens),
    completionTokens: num(usage.completion_tokens),
    reusedTokens: num(usage.reused_tokens),
    tokensPerSecond: num(event.tokens_per_second) ?? null,
  };
}

/**
 * Generation speed: the server's own figure, else the tokens after the first one over the time
 * after the first token (llama-server's predicted_per_second), so prompt processing and queueing
 * don't count; all tokens over the whole duration when the first token time is unknown.
 */
export function tokensPerSecond(stats: RunStats): number | undefined {
  if (typeof stats.tokensPerSecond === 'number') return stats.tokensPerSecond;
  const { completionTokens: tokens, durationMs: duration, firstTokenMs: first } = stats;
  if (tokens === undefined || duration === undefined || tokens === 0) return undefined;
  if (first !== null && first !== undefined && tokens > 1 && duration > first) return ((tokens - 1) * 1000) / (duration - first);
  return duration > 0 ? (tokens * 1000) / duration : undefined;
}

/** `850 ms`, `1.24 s`, `—` for unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatRate(rate: number | undefined): string {
  return rate === undefined ? '—' : rate >= 100 ? rate.toFixed(0) : rate.toFixed(1);
}
