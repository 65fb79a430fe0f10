/**
 * Counters of the server's generations for `GET /metrics`, in the Prometheus text format with
 * llama-server's metric names (so its dashboards work) plus akachat's request outcomes.
 */
import type { GenerationQueue } from '../run/admission.js';
import type { GenerationReport } from '../run/runner.js';

export class ServerMetrics {
  #promptTokens = 0;
  #promptMs = 0;
  #predictedTokens = 0;
  #predictedMs = 0;
  readonly #outcomes = { completed: 0, aborted: 0, failed: 0 };

  record(report: GenerationReport): void {
    this.#outcomes[report.outcome]++;
    if (report.outcome !== 'completed') return;
    this.#promptTokens += report.promptTokens ?? 0;
    this.#promptMs += report.promptMs ?? 0;
    this.#predictedTokens += report.completionTokens ?? 0;
    this.#predictedMs += report.generationMs ?? 0;
  }

  /**
   * The exposition text; `queue` gives the requests running and waiting now, `decodes` the
   * decode steps of the resident models' contexts (ModelManager.decodes).
   */
  text(queue: GenerationQueue, slots: number, decodes: { decodes: number; slotDecodes: number }): string {
    const rate = (tokens: number, ms: number) => (ms > 0 ? tokens / (ms / 1000) : 0);
    const lines: string[] = [];
    const metric = (name: string, type: 'counter' | 'gauge', help: string, value: number | [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      if (typeof value === 'number') lines.push(`${name} ${value}`);
      else for (const [labels, v] of value) lines.push(`${name}{${labels}} ${v}`);
    };
    metric('llamacpp:prompt_tokens_total', 'counter', 'Number of prompt tokens processed.', this.#promptTokens);
    metric('llamacpp:prompt_seconds_total', 'counter', 'Prompt process time in seconds.', this.#promptMs / 1000);
    metric('llamacpp:prompt_tokens_seconds', 'gauge', 'Average prompt throughput in tokens/s.', rate(this.#promptTokens, this.#promptMs));
    metric('llamacpp:tokens_predicted_total', 'counter', 'Number of generation tokens processed.', this.#predictedTokens);
    metric('llamacpp:tokens_predicted_seconds_total', 'counter', 'Predict process time in seconds.', this.#predictedMs / 1000);
    metric('llamacpp:predicted_tokens_seconds', 'gauge', 'Average generation throughput in tokens/s.', rate(this.#predictedTokens, this.#predictedMs));
    metric('llamacpp:requests_processing', 'gauge', 'Number of requests processing.', queue.running);
    metric('llamacpp:requests_deferred', 'gauge', 'Number of requests deferred.', queue.waiting);
    metric('llamacpp:n_decode_total', 'counter', 'Total number of llama_decode() calls of the loaded models\' generation contexts.', decodes.decodes);
    metric('llamacpp:n_busy_slots_per_decode', 'gauge', 'Average number of busy slots per llama_decode() call.', decodes.slotDecodes / Math.max(decodes.decodes, 1));
    metric('akachat_slots', 'gauge', 'Generations that may run at once on the local model (its slots).', slots);
    metric('akachat_requests_total', 'counter', 'Generations that ended, by outcome.', Object.entries(this.#outcomes).map(([outcome, n]) => [`outcome="${outcome}"`, n]));
    return lines.join('\n') + '\n';
  }
}
