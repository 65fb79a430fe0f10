/** Helpers of the HTTP routes for a started run's text stream. */

/**
 * Waits for the first chunk of a run (or its end), so that failures before any text (unknown
 * prompt, template error, model load error) still get a real status instead of a broken stream.
 * Returns the chunks again, the first one included; stopping their iteration aborts the run.
 */
export async function firstChunkReady(run: AsyncIterable<string>): Promise<AsyncIterable<string>> {
  const iterator = run[Symbol.asyncIterator]();
  const first = await iterator.next();
  let finished = first.done === true;
  async function* chunks(): AsyncGenerator<string> {
    try {
      if (first.done) return;
      yield first.value;
      for (;;) {
        const next = await iterator.next();
        if (next.done) {
          finished = true;
          return;
        }
        yield next.value;
      }
    } finally {
      if (!finished) await iterator.return?.();
    }
  }
  return chunks();
}

/** OpenAI `finish_reason` for a stop reason. */
export function finishReason(stopReason: string): 'stop' | 'length' {
  return stopReason === 'maxTokens' || stopReason === 'contextFull' ? 'length' : 'stop';
}

