/**
 * `akachat/http`: the WebAPI as an optional adapter over the library. The core never imports
 * this entry point.
 *
 * ```ts
 * import { Akachat } from 'akachat';
 * import { serve } from 'akachat/http';
 * const server = await serve(new Akachat({ defaultModel: 'model.gguf' }), { port: 50000 });
 * console.log(`${server.url}/docs`);
 * ```
 */
export { createApp, type AkachatApp, type AppOptions } from './app.js';
export { serve, DEFAULT_HOST, DEFAULT_PORT, type AkachatServer, type ServeOptions } from './serve.js';
export { GenerationQueue, type GenerationQueueOptions, type QueueTurn } from '../run/admission.js';
export type { GenerationReport, RunResult } from '../run/runner.js';
export type { ServerState } from './route.js';
export type { RagCollections } from './routes/rag.js';
export { HttpError, type ErrorStyle } from './errors.js';
export { ReasoningSplitter, splitReasoning } from './reasoning.js';
export { SentenceChunker } from './sentence-chunks.js';
export { SentenceSplitter, splitSentences, toSpeechText, type Sentence, type SentenceSplitterOptions } from './speech.js';
export { RouteRegistry, type OpenApiDocument, type RouteDescription } from './openapi.js';
export type { OriginPolicy } from './security.js';
