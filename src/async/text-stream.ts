/**
 * The one streaming result type from the engine up to HTTP: text chunks of one generation
 * (consumable once; `break` aborts it) plus the result, which settles when the generation ends.
 * The engine's Generation, an LLM location's LlmStream, a prompt run and a run of the run path are
 * all TextStreams; a layer that adds to the result maps it instead of wrapping the stream again.
 */
export interface TextStream<R> extends AsyncIterable<string> {
  readonly result: Promise<R>;
  /** Stops the generation; `result` settles as the stream's producer decides (abort error or stop reason). */
  abort(): void;
}

/** The same stream (its chunks, abort and break) with its result mapped by `fn`. */
export function mapResult<R, S>(stream: TextStream<R>, fn: (result: R) => S): TextStream<S> {
  const result = stream.result.then(fn);
  result.catch(() => {}); // whoever reads `result` sees the rejection; nobody reading it is not an error
  return {
    result,
    abort: () => stream.abort(),
    [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
  };
}
