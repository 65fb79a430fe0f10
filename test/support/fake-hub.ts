/**
 * A local hub in Hugging Face's URL layout (no internet in tests): `acme/stories` holds
 * stories260K (a real model, so a pulled file can be loaded), sent in slow pieces so a download
 * shows progress. Records every request path.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeHub {
  endpoint: string;
  /** Paths requested so far. */
  requests: string[];
  close(): Promise<void>;
}

/** `model`: the GGUF served as acme/stories' stories260K.gguf (a path, or the bytes themselves). */
export async function startFakeHub(model: string | Buffer, { pieces = 6, pieceDelayMs = 150 } = {}): Promise<FakeHub> {
  const bytes = typeof model === 'string' ? await readFile(model) : model;
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    if (url === '/api/models/acme/stories/revision/main') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ siblings: [{ rfilename: 'stories260K.gguf' }, { rfilename: 'README.md' }] }));
      return;
    }
    if (url !== '/acme/stories/resolve/main/stories260K.gguf') {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('content-length', String(bytes.length));
    const size = Math.ceil(bytes.length / pieces);
    let at = 0;
    const next = () => {
      if (res.destroyed) return;
      if (at >= bytes.length) return void res.end();
      const piece = bytes.subarray(at, Math.min(at + size, bytes.length));
      at += piece.length;
      res.write(piece, () => setTimeout(next, pieceDelayMs));
    };
    next();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
