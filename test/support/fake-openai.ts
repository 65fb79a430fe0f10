/**
 * A minimal OpenAI-compatible server on loopback for tests: it streams `echo: <last message>`
 * (chat) or `completed: <prompt>` (text) word by word and records every request's path, body and
 * Authorization header. Model `broken` answers 400; `slow` hangs for 5 s.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  path: string;
  body: Record<string, unknown>;
  authorization?: string;
}

export interface FakeOpenAi {
  /** Base URL ending in `/v1`. */
  endpoint: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFakeOpenAi(): Promise<FakeOpenAi> {
  const requests: RecordedRequest[] = [];
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw || '{}');
    requests.push({ path: req.url ?? '', body, authorization: req.headers.authorization });
    if (body.model === 'broken') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'model broken does not exist', type: 'invalid_request_error', code: 'model_not_found' } }));
      return;
    }
    if (body.model === 'slow') { setTimeout(() => res.end(), 5000); return; }
    const chat = req.url === '/v1/chat/completions';
    // An input starting "wait:N " is answered N ms later (cells that end out of order).
    const wait = /^wait:(\d+) /.exec(chat ? String(body.messages.at(-1).content) : String(body.prompt))?.[1];
    if (wait) await new Promise((resolve) => setTimeout(resolve, Number(wait)));
    const reply = chat ? `echo: ${body.messages.at(-1).content}` : `completed: ${body.prompt}`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const word of reply.split(/(?<= )/)) {
      const choice = chat ? { index: 0, delta: { content: word }, finish_reason: null } : { index: 0, text: word, finish_reason: null };
      res.write(`data: ${JSON.stringify({ id: 'x', object: chat ? 'chat.completion.chunk' : 'text_completion', created: 0, model: body.model, choices: [choice] })}\n\n`);
    }
    const last = chat ? { index: 0, delta: {}, finish_reason: 'stop' } : { index: 0, text: '', finish_reason: 'length' };
    res.write(`data: ${JSON.stringify({ id: 'x', object: 'chunk', created: 0, model: body.model, choices: [last] })}\n\n`);
    res.write(`data: ${JSON.stringify({ id: 'x', object: 'chunk', created: 0, model: body.model, choices: [], usage: { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 } })}\n\n`);
    res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
