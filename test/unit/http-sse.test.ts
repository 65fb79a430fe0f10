import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { connect, type AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { InvalidArgumentError } from '../../src/errors.js';
import { NDJSON_HEADERS, SSE_DONE, SSE_HEADERS, eventStream, ndjsonLine, parseNdjson, parseSse, sseEvent } from '../../src/http/sse.js';

const decoder = new TextDecoder();

async function* fromArray(events: string[]): AsyncGenerator<string> {
  for (const event of events) yield event;
}

async function readChunks(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const chunks: string[] = [];
  const reader = stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(decoder.decode(r.value));
  return chunks;
}

/** An iterator that hands out `ready` events, then hangs until return() is called. */
function hangingSource(ready: string[]) {
  const calls = { next: 0, return: 0, returnReason: undefined as unknown };
  let release: (() => void) | undefined;
  const iterator: AsyncIterator<string> & AsyncIterable<string> = {
    [Symbol.asyncIterator]() { return this; },
    async next() {
      calls.next++;
      if (ready.length) return { done: false, value: ready.shift()! };
      await new Promise<void>((resolve) => { release = resolve; });
      return { done: true, value: undefined };
    },
    async return(reason?: unknown) {
      calls.return++;
      calls.returnReason = reason;
      release?.();
      return { done: true, value: undefined };
    },
  };
  return { iterator, calls };
}

describe('sseEvent', () => {
  it('frames an object as exactly one data line of JSON', () => {
    expect(sseEvent({ choices: [{ delta: { content: 'a\nb' } }] }))
      .toBe('data: {"choices":[{"delta":{"content":"a\\nb"}}]}\n\n');
  });

  it('passes a string verbatim', () => {
    expect(sseEvent(SSE_DONE)).toBe('data: [DONE]\n\n');
  });

  it('is always one data: line whatever the object', () => {
    // Wrapped in an object: top-level strings are passed verbatim by design.
    fc.assert(fc.property(fc.jsonValue().map((payload) => ({ payload })), (value) => {
      const event = sseEvent(value);
      expect(event).toMatch(/^data: [^\r\n]*\n\n$/);
      expect(JSON.parse(parseSse(event)[0])).toEqual(JSON.parse(JSON.stringify(value)));
    }));
  });

  it('rejects strings with line breaks and values JSON cannot encode', () => {
    expect(() => sseEvent('a\nb')).toThrow(InvalidArgumentError);
    expect(() => sseEvent('a\rb')).toThrow(/without line breaks for the SSE data/);
    expect(() => sseEvent(undefined)).toThrow(/JSON-serialisable value for the SSE data but received undefined/);
  });
});

describe('ndjsonLine', () => {
  it('is one JSON value and a newline', () => {
    const line = ndjsonLine({ message: { role: 'assistant', content: 'x\ny' }, done: false });
    expect(line).toBe('{"message":{"role":"assistant","content":"x\\ny"},"done":false}\n');
    expect(parseNdjson(line + ndjsonLine({ done: true }))).toEqual([
      { message: { role: 'assistant', content: 'x\ny' }, done: false }, { done: true },
    ]);
    expect(() => ndjsonLine(() => 1)).toThrow(InvalidArgumentError);
  });
});

describe('parseSse', () => {
  it('returns the payloads of well-formed events', () => {
    expect(parseSse('data: {"a":1}\n\ndata: [DONE]\n\n')).toEqual(['{"a":1}', '[DONE]']);
    expect(parseSse('')).toEqual([]);
  });

  it('rejects comments, event lines, multi-line events and a missing blank line', () => {
    expect(() => parseSse(': ping\n\ndata: 1\n\n')).toThrow(/exactly one "data: " line for SSE event 0/);
    expect(() => parseSse('event: x\ndata: 1\n\n')).toThrow(InvalidArgumentError);
    expect(() => parseSse('data: 1\ndata: 2\n\n')).toThrow(InvalidArgumentError);
    expect(() => parseSse('data: 1\n')).toThrow(/ending in a blank line/);
  });
});

describe('eventStream', () => {
  it('enqueues every event as exactly one chunk', async () => {
    const events = [sseEvent({ n: 1 }), sseEvent({ text: 'こんにちは😊' }), '', sseEvent(SSE_DONE)];
    const chunks = await readChunks(eventStream(fromArray(events)));
    expect(chunks).toEqual(events.filter((e) => e !== ''));
    for (const chunk of chunks) expect(chunk).toMatch(/^data: [^\n]*\n\n$/);
  });

  it('does not read ahead of the consumer', async () => {
    const { iterator, calls } = hangingSource(['data: 1\n\n', 'data: 2\n\n']);
    const stream = eventStream(iterator);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls.next).toBe(0);
    const reader = stream.getReader();
    await reader.read();
    expect(calls.next).toBe(1);
    await reader.cancel();
  });

  it('calls the source return() when the consumer cancels mid-stream', async () => {
    const { iterator, calls } = hangingSource(['data: 1\n\n']);
    const reader = eventStream(iterator).getReader();
    expect(decoder.decode((await reader.read()).value)).toBe('data: 1\n\n');
    const pending = reader.read(); // the source is now waiting for the next token
    await reader.cancel('client went away');
    expect(calls.return).toBe(1);
    expect(calls.returnReason).toBe('client went away');
    expect((await pending).done).toBe(true);
  });

  it('runs an async generator finally block on cancel', async () => {
    let cleanedUp = false;
    async function* generation() {
      try {
        for (let i = 0; ; i++) yield sseEvent({ i });
      } finally {
        cleanedUp = true;
      }
    }
    const reader = eventStream(generation()).getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(cleanedUp).toBe(true);
  });

  it('turns a source error into a last event with onError, or fails the stream without it', async () => {
    async function* failing() {
      yield sseEvent({ n: 1 });
      throw new Error('boom');
    }
    const framed = await readChunks(eventStream(failing(), {
      onError: (error) => sseEvent({ error: { message: (error as Error).message } }),
    }));
    expect(framed).toEqual(['data: {"n":1}\n\n', 'data: {"error":{"message":"boom"}}\n\n']);
    await expect(readChunks(eventStream(failing()))).rejects.toThrow('boom');
  });

  it('exports the headers clients expect', () => {
    expect(SSE_HEADERS['Content-Type']).toMatch(/^text\/event-stream/);
    expect(SSE_HEADERS['Cache-Control']).toBe('no-cache');
    expect(NDJSON_HEADERS['Content-Type']).toBe('application/x-ndjson');
  });
});

describe('eventStream through @hono/node-server', () => {
  let server: ServerType | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function listen(fetch: (request: Request) => Response): Promise<number> {
    return new Promise((resolve) => {
      server = serve({ fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => resolve(info.port));
    });
  }

  /** Sends a raw HTTP/1.1 request and returns the socket with the bytes received so far. */
  function rawRequest(port: number) {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (data) => { received += data.toString('latin1'); });
    socket.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    return { socket, received: () => received, ended: new Promise<void>((resolve) => socket.on('close', () => resolve())) };
  }

  it('sends each event as one HTTP chunk', async () => {
    const events = [sseEvent({ a: 1 }), sseEvent({ b: '二' }), sseEvent(SSE_DONE)];
    async function* slowly() {
      for (const event of events) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        yield event;
      }
    }
    const port = await listen(() => new Response(eventStream(slowly()), { headers: SSE_HEADERS }));
    const request = rawRequest(port);
    await request.ended;
    const response = request.received();
    const headEnd = response.indexOf('\r\n\r\n');
    const head = response.slice(0, headEnd);
    const body = response.slice(headEnd + 4);
    expect(head).toMatch(/content-type: text\/event-stream/i);
    expect(head).toMatch(/transfer-encoding: chunked/i);
    // Chunked body: <hex size>\r\n<bytes>\r\n ... 0\r\n\r\n
    const chunks: string[] = [];
    let rest = Buffer.from(body, 'latin1');
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      const size = parseInt(rest.subarray(0, lineEnd).toString(), 16);
      if (size === 0) break;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size).toString('utf8'));
      rest = rest.subarray(lineEnd + 2 + size + 2);
    }
    expect(chunks).toEqual(events);
  });

  it('returns the source iterator when the client disconnects', async () => {
    const { iterator, calls } = hangingSource([sseEvent({ first: true })]);
    const port = await listen(() => new Response(eventStream(iterator), { headers: SSE_HEADERS }));
    const request = rawRequest(port);
    await expect.poll(() => request.received()).toContain('data: {"first":true}');
    request.socket.destroy();
    await expect.poll(() => calls.return, { timeout: 2000 }).toBe(1);
  });
});
