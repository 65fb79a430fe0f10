import { invalid } from '../validate.js';
import { maskSecret } from './settings.js';

/**
 * Prompt option keys that {@link redactOptions} shows as they are: the known options that say
 * where and how a generation ran, none of which holds a secret (`endpoint` and `model` lose URL
 * credentials). Every other key, `api_key` and unknown ones included, is masked.
 */
export const PUBLIC_OPTION_KEYS: ReadonlySet<string> = new Set([
  'provider', 'location', 'endpoint', 'model', 'dtype', 'inst_template', 'template', 'is_messages', 'chat_template',
  'max_new_tokens', 'output_tokens', 'input_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'repetition_penalty',
  'presence_penalty', 'frequency_penalty', 'seed', 'stop',
]);

/** Options whose value may be a URL carrying credentials. */
const URL_OPTION_KEYS: ReadonlySet<string> = new Set(['endpoint', 'model']);

/**
 * A copy of prompt options that is safe to show or log (run details, speech logs): the keys of
 * {@link PUBLIC_OPTION_KEYS} are kept, URLs in `endpoint`/`model` without credentials (see
 * {@link redactUrl}), and every string under any other key, at any depth, is masked like a
 * secret setting (`****wxyz`). Numbers, booleans and null are kept.
 */
export function redactOptions(options: Record<string, unknown>): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalid('an options object', 'options', options);
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    const shown = !PUBLIC_OPTION_KEYS.has(key) ? maskStrings(value)
      : URL_OPTION_KEYS.has(key) && typeof value === 'string' ? redactUrl(value)
        : value;
    Object.defineProperty(result, key, { value: shown, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

/**
 * A URL without what can carry credentials: the user name and password are removed and every
 * query value becomes `****` (`?key=...`, `?token=...`); the fragment is dropped. Text that does
 * not start like a URL (`scheme://`) is returned as is; one that does but does not parse is masked.
 */
export function redactUrl(text: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return maskSecret(text) as string;
  }
  if (url.username === '' && url.password === '' && url.search === '' && url.hash === '') return text;
  url.username = '';
  url.password = '';
  const query = new URLSearchParams();
  for (const name of url.searchParams.keys()) query.append(name, '****');
  url.search = query.toString();
  url.hash = '';
  return url.toString();
}

function maskStrings(value: unknown): unknown {
  if (typeof value === 'string') return maskSecret(value);
  if (Array.isArray(value)) return value.map(maskStrings);
  if (typeof value !== 'object' || value === null) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    Object.defineProperty(result, key, { value: maskStrings(item), enumerable: true, writable: true, configurable: true });
  }
  return result;
}
