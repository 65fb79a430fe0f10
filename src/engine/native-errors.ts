import {
  AbortError, AkachatError, ContextFullError, DisposedError, InvalidArgumentError, ModelLoadError, TemplateError,
} from '../errors.js';

/** Marks where an async call started, so its rejection carries the caller's stack. */
export function callSite(): Error {
  return new Error('call site');
}

/** Maps an error from the addon (which carries a `code`) onto the akachat error hierarchy. */
export function fromNative(err: unknown, site?: Error): Error {
  if (err instanceof AkachatError) return err;
  const e = err as { message?: string; code?: string };
  const message = e?.message ?? String(err);
  let mapped: Error;
  switch (e?.code) {
    case 'MODEL_LOAD_FAILED': mapped = new ModelLoadError(message, { cause: err }); break;
    case 'CONTEXT_FULL': mapped = new ContextFullError(message, { cause: err }); break;
    case 'ABORTED': mapped = new AbortError(message, { cause: err }); break;
    case 'DISPOSED': mapped = new DisposedError(message.replace(/ has been disposed$/, '')); break;
    case 'INVALID_ARGUMENT': mapped = new InvalidArgumentError(message, { cause: err }); break;
    case 'TEMPLATE_ERROR': mapped = new TemplateError(message, 0, 0, { cause: err }); break;
    case undefined: return err instanceof Error ? err : new AkachatError(message);
    default: mapped = new AkachatError(message, e.code, { cause: err });
  }
  if (site?.stack) mapped.stack = `${mapped.name}: ${mapped.message}\n${site.stack.split('\n').slice(1).join('\n')}`;
  return mapped;
}

/** Runs a synchronous native call, mapping its errors. */
export function nativeCall<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromNative(err);
  }
}
