/**
 * Pure request checks for the HTTP adapter: CORS (which browser pages may call us), the Host
 * header (DNS-rebinding defence) and the optional API key.
 *
 * The threat is a web page in the user's browser: it can send requests to 127.0.0.1, and through
 * DNS rebinding make its own host name point there. Non-browser clients are not constrained by
 * CORS and need the API key if anything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Whether `origin` is an `http(s)` page served from localhost, 127.0.0.1 or [::1] (any port). */
export function isLocalOrigin(origin: string | null | undefined): boolean {
  const url = parseOrigin(origin);
  return url !== undefined && LOCAL_HOSTNAMES.has(url.hostname);
}

/**
 * Allowed origins: `'*'` (any), `'local'` (see {@link isLocalOrigin}) or a list of origins where
 * `*` matches within the host or port (`https://*.example.com`, `http://192.168.1.10:*`); the
 * list may contain `'local'`, and `'null'` for `file://` pages (never allowed by default).
 */
export type OriginPolicy = readonly string[] | '*' | 'local';

export interface CorsPolicy {
  /** Origins allowed on ordinary routes (chat, models, docs). Default `'local'`. */
  allowedOrigins?: OriginPolicy;
  /** Whether the route changes stored data (prompts, vars, settings, uploads). */
  managementRoute: boolean;
  /**
   * Origins allowed on management routes; `allowedOrigins` does not apply to them, so opening
   * the chat API to `'*'` never opens prompt saving to other sites. Default `'local'`.
   */
  managementOrigins?: OriginPolicy;
  /**
   * The request's `Host` header. A page from the server itself (the docs or playground opened
   * through a LAN address) is same-origin and always allowed. Check the Host with
   * {@link hostAllowed} first: a rebound name would otherwise pass as same-origin.
   */
  requestHost?: string;
  /** Methods listed on preflight answers. Default GET, POST, PUT, PATCH, DELETE, OPTIONS. */
  allowedMethods?: readonly string[];
  /** Answer Chrome's Private Network Access preflight (`Access-Control-Request-Private-Network: true`). Default false. */
  privateNetworkRequested?: boolean;
  /** Seconds a browser may cache the preflight answer. Default 600. */
  maxAgeSeconds?: number;
}

export interface CorsDecision {
  /**
   * False: the origin may not call this route. Answer 403 (to the preflight and to the request
   * itself: a "simple" POST is sent without preflight, so only refusing it stops cross-site
   * writes). True with no `Origin` header: not a cross-origin browser request.
   */
  allowed: boolean;
  /** Why it was refused, for the 403 message. */
  reason?: string;
  /** Headers to set on the response (also on refusals: `Vary: Origin` keeps caches correct). */
  headers: Record<string, string>;
}

const DEFAULT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const DEFAULT_REQUEST_HEADERS = 'Content-Type, Authorization';
const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

/**
 * Decides whether a browser page from `origin` may call a route, and returns the CORS headers.
 * The allowed origin is echoed (never `*`) together with the headers it asked for in
 * `Access-Control-Request-Headers` (checked to be header names), so `Authorization` works.
 */
export function corsDecision(origin: string | null | undefined, requestedHeaders: string | null | undefined, policy: CorsPolicy): CorsDecision {
  const vary = { Vary: 'Origin' };
  if (origin === undefined || origin === null || origin === '') return { allowed: true, headers: {} };
  const origins = policy.managementRoute ? (policy.managementOrigins ?? 'local') : (policy.allowedOrigins ?? 'local');
  const sameOrigin = policy.requestHost !== undefined && originHost(origin) === normalizeHost(policy.requestHost);
  if (!sameOrigin && !originAllowed(origin, origins)) {
    const what = policy.managementRoute ? 'management routes' : 'this server';
    return { allowed: false, reason: `Origin ${origin} may not call ${what}`, headers: vary };
  }
  const headers: Record<string, string> = {
    ...vary,
    'Access-Control-Allow-Origin': origin,
    'Access-Control-Allow-Methods': (policy.allowedMethods ?? DEFAULT_METHODS).join(', '),
    'Access-Control-Allow-Headers': allowedRequestHeaders(requestedHeaders),
    'Access-Control-Max-Age': String(policy.maxAgeSeconds ?? 600),
  };
  if (policy.privateNetworkRequested) headers['Access-Control-Allow-Private-Network'] = 'true';
  return { allowed: true, headers };
}

/** Whether `origin` matches the policy (see {@link OriginPolicy}). */
export function originAllowed(origin: string, policy: OriginPolicy): boolean {
  if (policy === '*') return true;
  if (policy === 'local') return isLocalOrigin(origin);
  const normalized = origin.toLowerCase().replace(/\/$/, '');
  return policy.some((pattern) => {
    if (pattern === '*') return true;
    if (pattern === 'local') return isLocalOrigin(origin);
    const wanted = pattern.toLowerCase().replace(/\/$/, '');
    if (!wanted.includes('*')) return wanted === normalized;
    // `*` stays inside one host or port: it cannot swallow `/`, `@` or `:`.
    const regex = new RegExp(`^${wanted.split('*').map(escapeRegExp).join('[a-z0-9.-]*')}$`);
    return regex.test(normalized);
  });
}

/** The echoed `Access-Control-Allow-Headers`: the requested names when they are all valid tokens. */
function allowedRequestHeaders(requested: string | null | undefined): string {
  const names = (requested ?? '').split(',').map((name) => name.trim()).filter(Boolean);
  if (names.length === 0 || !names.every((name) => HEADER_TOKEN.test(name))) return DEFAULT_REQUEST_HEADERS;
  return names.join(', ');
}

export interface HostPolicy {
  /** Address the server listens on (`127.0.0.1`, `::1`, `localhost`, `0.0.0.0`, `::`, a LAN IP, a name). */
  bindHost: string;
  /** Port the server listens on. Only checked with `strictPort`. */
  port: number;
  /**
   * More accepted host names (reverse proxy, mDNS `myhost.local`), optionally with `:port`;
   * a name without a port matches any port; `'*'` turns the check off. Default none.
   */
  extraHosts?: readonly string[];
  /**
   * Also require the Host port to equal `port`. Default false: SSH tunnels (`ssh -L 9000:...`)
   * and `docker -p 3000:8080` legitimately show another port, and rebinding is told apart by the
   * host name, not the port.
   */
  strictPort?: boolean;
}

/**
 * DNS-rebinding defence: whether the `Host` header names this server.
 * - bound to loopback: `localhost`, `127.0.0.1`, `[::1]` (and the bind address);
 * - bound to one address: that address;
 * - bound to all interfaces (`0.0.0.0`, `::`): any IP literal and `localhost` (an attacker's page
 *   reaches us through a *name* it controls, never through a bare IP);
 * - always: `extraHosts`.
 * A missing Host header (HTTP/1.0 tools) is accepted: browsers always send one.
 */
export function hostAllowed(hostHeader: string | null | undefined, policy: HostPolicy): boolean {
  if (hostHeader === undefined || hostHeader === null || hostHeader === '') return true;
  const host = splitHost(hostHeader);
  if (!host) return false;
  if (policy.strictPort && (host.port ?? 80) !== policy.port) return false;
  for (const extra of policy.extraHosts ?? []) {
    if (extra === '*') return true;
    const wanted = splitHost(extra);
    if (wanted && wanted.hostname === host.hostname && (wanted.port === undefined || wanted.port === host.port)) return true;
  }
  const bind = bracketIpv6(policy.bindHost.toLowerCase());
  if (host.hostname === bind) return true;
  if (bind === '0.0.0.0' || bind === '[::]') return host.hostname === 'localhost' || isIpLiteral(host.hostname);
  if (isLoopback(bind)) return LOCAL_HOSTNAMES.has(host.hostname);
  return false;
}

/**
 * Checks `Authorization: Bearer <key>`, or `x-api-key: <key>` (Anthropic's header, which
 * llama-server accepts too), against the configured key, in constant time. With no key
 * configured (undefined or ''), every request passes, whatever it sends (clients often send a
 * dummy key).
 */
export function checkApiKey(authorizationHeader: string | null | undefined, apiKey: string | undefined, apiKeyHeader?: string | null): boolean {
  if (apiKey === undefined || apiKey === '') return true;
  // Hashing first gives equal lengths, so timingSafeEqual leaks neither content nor length.
  const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();
  const matches = (sent: string) => timingSafeEqual(digest(sent), digest(apiKey));
  const bearer = /^\s*Bearer\s+(.+?)\s*$/i.exec(authorizationHeader ?? '');
  if (bearer && matches(bearer[1])) return true;
  const key = apiKeyHeader?.trim();
  return key !== undefined && key !== '' && matches(key);
}

// ---------------------------------------------------------------------------------------------

function parseOrigin(origin: string | null | undefined): URL | undefined {
  if (!origin || origin === 'null') return undefined;
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** `host[:port]` of an origin as a Host header would carry it (default ports omitted). */
function originHost(origin: string): string | undefined {
  return parseOrigin(origin)?.host.toLowerCase();
}

function normalizeHost(hostHeader: string): string | undefined {
  const host = splitHost(hostHeader);
  if (!host) return undefined;
  return host.port === undefined ? host.hostname : `${host.hostname}:${host.port}`;
}

/** Splits a Host header into a lowercase hostname (IPv6 in brackets, no trailing dot) and port. */
function splitHost(value: string): { hostname: string; port?: number } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (!match) return undefined;
  const hostname = match[1].toLowerCase().replace(/\.$/, '');
  const port = match[2] === undefined ? undefined : Number(match[2]);
  if (hostname === '' || (port !== undefined && port > 65535)) return undefined;
  return { hostname, port };
}

function bracketIpv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function isIpLiteral(hostname: string): boolean {
  if (hostname.startsWith('[')) return true; // splitHost only lets hex, ':' and '.' in brackets
  return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(hostname) && hostname.split('.').every((part) => Number(part) <= 255);
}

function isLoopback(bind: string): boolean {
  return bind === 'localhost' || bind === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bind);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
