/**
 * Runs the WebAPI on Node's HTTP server (through @hono/node-server, which turns a closed
 * connection into an aborted `request.signal` and a cancelled response stream, so generations
 * stop when their client leaves).
 */
import { createAdaptorServer } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Akachat } from '../akachat.js';
import { expectInteger } from '../validate.js';
import { createApp, type AkachatApp, type AppOptions } from './app.js';

/** Default port of the original akachat WebAPI. */
export const DEFAULT_PORT = 50000;
/** Loopback only: other machines cannot reach the server unless asked for. */
export const DEFAULT_HOST = '127.0.0.1';

export interface ServeOptions extends Omit<AppOptions, 'host'> {
  /** Port to listen on; 0 = any free port (see `port` of the result). Default 50000. */
  port?: number;
  /** Address to listen on: `127.0.0.1`, `::1`, `0.0.0.0` (every interface), a LAN address. Default `'127.0.0.1'`. */
  host?: string;
  /** Load the default model right after listening, in the background. Default false. */
  preload?: boolean;
  /** Called when a preload fails (the server keeps running). Default: printed with console.error. */
  onPreloadError?: (error: unknown) => void;
}

/** A listening server. */
export interface AkachatServer {
  /** Base URL, e.g. `http://127.0.0.1:50000`. */
  readonly url: string;
  readonly host: string;
  /** The port listened on (the one chosen when 0 was asked for). */
  readonly port: number;
  readonly app: AkachatApp;
  /** The Node HTTP server. (Typed with node:http alone: @hono/node-server's ServerType pulls hono's
   * WebSocket types, which need the DOM lib, into every consumer's type check.) */
  readonly server: Server;
  /** Stops listening and closes every connection (running generations are aborted). */
  close(): Promise<void>;
}

/** Starts the WebAPI for `akachat` and resolves once it listens. */
export async function serve(akachat: Akachat, options: ServeOptions = {}): Promise<AkachatServer> {
  const port = expectInteger(options.port ?? DEFAULT_PORT, 'port', 0, 65535);
  const host = options.host ?? DEFAULT_HOST;
  const app = createApp(akachat, { ...options, host });
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server;
  // Streams may idle between tokens for a long time on a slow model: no socket timeout.
  server.timeout = 0;
  server.requestTimeout = 0;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (error.code === 'EADDRINUSE') reject(new Error(`Port ${port} on ${host} is already in use: choose another one (--port)`, { cause: error }));
      else if (error.code === 'EACCES') reject(new Error(`No permission to listen on ${host}:${port}: choose a port above 1023 (--port)`, { cause: error }));
      else if (error.code === 'EADDRNOTAVAIL') reject(new Error(`${host} is not an address of this machine (--host)`, { cause: error }));
      else reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });

  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${urlHost === '0.0.0.0' ? '127.0.0.1' : urlHost === '[::]' ? '[::1]' : urlHost}:${address.port}`;

  if (options.preload) {
    const onPreloadError = options.onPreloadError ?? ((error: unknown) => console.error('[akachat] the default model failed to load:', error instanceof Error ? error.message : error));
    app.preloadDefaultModel().catch(onPreloadError);
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    host,
    port: address.port,
    app,
    server,
    close: () => (closing ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      // Idle keep-alive sockets and open streams would keep close() waiting.
      server.closeAllConnections();
    })),
  };
}
