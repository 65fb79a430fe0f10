/**
 * Uploads one file to /api/rag/save with XMLHttpRequest, which (unlike fetch) reports upload
 * progress; the server then streams the ingest's progress as NDJSON, read as it arrives.
 */
import { ApiError, apiKey, errorMessage } from '../../api';

export interface IngestProgress {
  phase: string;
  done: number;
  total: number;
}

export interface UploadCallbacks {
  /** Bytes sent so far, of `total`. */
  onUpload(sent: number, total: number): void;
  /** The server's ingest phases (extract, read, embed, index, write). */
  onIngest(progress: IngestProgress): void;
}

/** What the server answers for a saved upload: the envelope's detail. */
export interface SaveDetail {
  dir: string;
  file?: string;
  bytes?: number;
  added: {
    added?: { file: string; chunks: number; format: string }[];
    skipped?: { file: string; reason: string }[];
    replaced?: string[];
    chunksAdded?: number;
    fileCount?: number;
    chunkCount?: number;
    durationMs?: number;
  } | null;
}

export function uploadToCollection(dir: string, file: File, chunkSize: number | undefined, callbacks: UploadCallbacks, signal?: AbortSignal): Promise<SaveDetail> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let read = 0;
    let last: Record<string, unknown> | undefined;
    const takeLines = (final: boolean) => {
      const text = xhr.responseText;
      let end = text.indexOf('\n', read);
      while (end >= 0 || (final && read < text.length)) {
        const line = text.slice(read, end >= 0 ? end : text.length).trim();
        read = end >= 0 ? end + 1 : text.length;
        if (line) {
          try {
            const value = JSON.parse(line) as Record<string, unknown>;
            if (value.progress) callbacks.onIngest(value.progress as IngestProgress);
            else last = value;
          } catch {
            // not a line of the stream (a proxy's error page): judged by the status below
          }
        }
        end = text.indexOf('\n', read);
      }
    };
    xhr.open('POST', './api/rag/save');
    xhr.setRequestHeader('Accept', 'application/x-ndjson');
    const key = apiKey();
    if (key) xhr.setRequestHeader('Authorization', `Bearer ${key}`);
    xhr.upload.onprogress = (e) => callbacks.onUpload(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onprogress = () => takeLines(false);
    xhr.onload = () => {
      if (xhr.status !== 200) {
        let body: unknown = xhr.responseText;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // keep the text
        }
        reject(new ApiError(xhr.status, errorMessage(body, `${xhr.status} ${xhr.statusText}`), body));
        return;
      }
      takeLines(true);
      if (last?.error) {
        const error = last.error as { status?: number };
        reject(new ApiError(error.status ?? 500, errorMessage(last.error, 'The upload failed'), last.error));
      } else if (last?.done) {
        resolve((last.done as { detail: SaveDetail }).detail);
      } else {
        reject(new ApiError(0, 'The server closed the upload without an answer'));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'The upload failed: the connection to the server was lost'));
    xhr.onabort = () => reject(new DOMException('The upload was cancelled', 'AbortError'));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.set('dir', dir);
    if (chunkSize !== undefined) form.set('chunk_size', String(chunkSize));
    form.set('file', file, file.name);
    xhr.send(form);
  });
}
