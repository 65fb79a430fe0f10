/**
 * Entry of the RAG ingestion worker thread (built as dist/rag-worker.js): runs one task at a
 * time as ingest-pool.ts sends them, and answers its parts, its result or its error.
 */
import { parentPort } from 'node:worker_threads';
import { runTask, serialiseError, type IngestTask } from './ingest-tasks.js';

const port = parentPort;
if (!port) throw new Error('ingest-worker runs as a worker thread only');
port.on('message', (request: IngestTask) => {
  runTask(request, (part, transfer = []) => port.postMessage({ kind: 'part', part }, transfer))
    .then((output) => port.postMessage({ kind: 'done', value: output.value }, output.transfer))
    .catch((err: unknown) => port.postMessage({ kind: 'error', error: serialiseError(err) }));
});
