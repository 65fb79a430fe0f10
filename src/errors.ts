/** Every error akachat throws on purpose is an AkachatError with a stable `code`. */
export class AkachatError extends Error {
  readonly code: string;
  constructor(message: string, code = 'AKACHAT_ERROR', options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Bad argument or option: the message follows `Expected <what> for <name> but received <value>`. */
export class InvalidArgumentError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'INVALID_ARGUMENT', options); }
}

/** A named thing (prompt, var, model, collection) does not exist. */
export class NotFoundError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'NOT_FOUND', options); }
}

/** The native addon could not be loaded. */
export class AddonLoadError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'ADDON_LOAD_FAILED', options); }
}

/** A GGUF file could not be read or loaded; the message carries llama.cpp's reason. */
export class ModelLoadError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'MODEL_LOAD_FAILED', options); }
}

/** The prompt (or prompt + generation) does not fit in the context window. */
export class ContextFullError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'CONTEXT_FULL', options); }
}

/** The operation was cancelled through an AbortSignal. */
export class AbortError extends AkachatError {
  constructor(message = 'The operation was aborted', options?: ErrorOptions) { super(message, 'ABORTED', options); }
}

/** A native object was used after dispose(). */
export class DisposedError extends AkachatError {
  constructor(what: string) { super(`${what} has been disposed`, 'DISPOSED'); }
}

/** An instruction could not be parsed or evaluated; names the function and the position. */
export class TemplateError extends AkachatError {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number, options?: ErrorOptions) {
    super(`${message} (line ${line}, column ${column})`, 'TEMPLATE_ERROR', options);
    this.line = line;
    this.column = column;
  }
}

/** A feature is not available (not configured, unsupported provider, ...). */
export class UnsupportedError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'UNSUPPORTED', options); }
}

/**
 * A caller tried to set what only the owner decides (where and what a generation runs: provider,
 * endpoint, model path, dtype, templates, context size, keys). HTTP callers and an instruction's
 * `llm()` may set generation parameters only.
 */
export class OwnerOnlyError extends AkachatError {
  constructor(message: string, options?: ErrorOptions) { super(message, 'OWNER_ONLY', options); }
}

/** The local model's slots and waiting line are full; retry after `retryAfterSeconds`. */
export class BusyError extends AkachatError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message, 'QUEUE_FULL');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Nothing is configured that could answer (no default model, and the name lists none). */
export class NoModelError extends AkachatError {
  constructor(message: string) { super(message, 'MODEL_NOT_CONFIGURED'); }
}

/** Error from a remote (OpenAI-compatible) service, with its own message. */
export class RemoteError extends AkachatError {
  readonly status?: number;
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, 'REMOTE_ERROR', options);
    this.status = status;
  }
}

/** Whether `error` is an abort (AbortError of this library, or a DOM AbortError / TimeoutError). */
export function isAbort(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  return code === 'ABORTED' || name === 'AbortError' || name === 'TimeoutError';
}

/** Throws AbortError when the signal is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError(abortReason(signal));
}

export function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name !== 'AbortError') return `Aborted: ${reason.message}`;
  return 'The operation was aborted';
}
