/**
 * Text chunks pushed by a producer, read once as an AsyncIterator. `end()` finishes it (with an
 * error to rethrow to the reader); the iterator's `return()` (a `break`) calls `onReturn`.
 */
export class ChunkQueue<T> {
  readonly #items: T[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #error: unknown;
  #iterated = false;

  push(item: T): void {
    this.#items.push(item);
    this.#notify();
  }

  end(error?: unknown): void {
    this.#ended = true;
    this.#error = error;
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  iterator(what: string, onReturn: () => Promise<void>): AsyncIterator<T> {
    if (this.#iterated) throw new Error(`${what} can be iterated only once`);
    this.#iterated = true;
    return {
      next: async (): Promise<IteratorResult<T>> => {
        for (;;) {
          if (this.#items.length > 0) return { value: this.#items.shift()!, done: false };
          if (this.#ended) {
            if (this.#error) throw this.#error;
            return { value: undefined, done: true };
          }
          await new Promise<void>((resolve) => { this.#wake = resolve; });
        }
      },
      return: async (): Promise<IteratorResult<T>> => {
        await onReturn();
        return { value: undefined, done: true };
      },
    };
  }
}
