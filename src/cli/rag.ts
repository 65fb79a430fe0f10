/**
 * `akachat rag create|add|search|list|delete`: the data folder's RAG collections (rag/<name>/).
 * `add` takes files and archives (zip, tar, tar.gz; extracted on a worker) with a progress bar.
 */
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { IngestProgress, IngestReport } from '../rag/collection.js';
import type { Rag } from '../rag/rag.js';
import { formatDuration, stopSignal, table, type CliIo } from './io.js';
import { addAkachatOptions, integerArg, isPathLike, openAkachat, type AkachatFlags } from './options.js';
import { progressBar } from './progress.js';
import { checkedModel } from './serve.js';

interface CreateFlags extends AkachatFlags {
  embeddingModel?: string;
  lexical?: boolean;
  chunkSize?: number;
  chunkOverlap?: number;
}

interface AddFlags extends AkachatFlags {
  chunkSize?: number;
  create?: boolean;
}

interface SearchFlags extends AkachatFlags {
  k: number;
  mode?: 'hybrid' | 'vector' | 'lexical';
  json?: boolean;
}

export function registerRag(program: Command, io: CliIo, exit: (code: number) => void): void {
  const rag = program.command('rag').description('RAG collections of the data folder: create, add, search, list, delete');
  const sub = (name: string) => addAkachatOptions(rag.command(name));
  const withRag = async (flags: AkachatFlags, work: (rag: Rag) => Promise<number>) => {
    const akachat = await openAkachat(flags, io);
    try {
      exit(await work(akachat.rag!));
    } finally {
      await akachat.dispose();
    }
  };

  sub('create')
    .description('create an empty collection')
    .argument('<name>', 'collection name (rag/<name>/)')
    .option('-e, --embedding-model <model>', 'embedding GGUF path or hf: reference (default: AKACHAT_EMBEDDING_MODEL; none = lexical-only)')
    .option('--lexical', 'lexical-only (BM25), even when AKACHAT_EMBEDDING_MODEL is set')
    .option('--chunk-size <chars>', 'characters per chunk; 0 = one chunk per file (default 500)', integerArg(0))
    .option('--chunk-overlap <chars>', 'overlap between chunks (default 0)', integerArg(0))
    .action((name: string, flags: CreateFlags) => withRag(flags, async (rag) => {
      const info = await rag.create(name, {
        // A path is stored absolute: the collection is searched later from any working folder.
        embeddingModel: flags.lexical ? null : flags.embeddingModel !== undefined && isPathLike(flags.embeddingModel) ? checkedModel(flags.embeddingModel, '--embedding-model') : flags.embeddingModel,
        chunkSize: flags.chunkSize,
        chunkOverlap: flags.chunkOverlap,
      });
      io.out(`Created ${info.name}: ${info.embedding ? `embeddings from ${info.embedding.model} (${info.embedding.dimensions} dimensions)` : 'lexical-only'}, chunks of ${info.chunkSize} characters`);
      return 0;
    }));

  sub('add')
    .description('add files or archives (zip, tar, tar.gz) to a collection; a file already there is replaced')
    .argument('<name>', 'collection name')
    .argument('<files...>', 'files (txt, md, html, pdf, docx, csv, json, ...) or archives')
    .option('--chunk-size <chars>', 'characters per chunk for this ingest (default: the collection\'s)', integerArg(0))
    .option('--create', 'create the collection when it does not exist (with AKACHAT_EMBEDDING_MODEL if set)')
    .action((name: string, files: string[], flags: AddFlags) => withRag(flags, async (rag) => {
      const signal = stopSignal(io);
      if (flags.create && !(await rag.has(name))) {
        await rag.create(name, { chunkSize: flags.chunkSize });
        io.err(`Created ${name}`);
      }
      const archives: string[] = [];
      const plain: string[] = [];
      for (const file of files) ((await isArchive(file)) ? archives : plain).push(file);
      const reports: IngestReport[] = [];
      for (const archive of archives) reports.push(await ingest(io, basename(archive), (onProgress) => rag.addArchive(name, archive, { chunkSize: flags.chunkSize, onProgress, signal })));
      if (plain.length > 0) reports.push(await ingest(io, `${plain.length} file${plain.length > 1 ? 's' : ''}`, (onProgress) => rag.addFiles(name, plain, { chunkSize: flags.chunkSize, onProgress, signal })));
      for (const report of reports) {
        for (const added of report.added) io.out(`  added ${added.file}: ${added.chunks} chunks (${added.format})`);
        for (const skipped of report.skipped) io.out(`  skipped ${skipped.file}: ${skipped.reason}`);
      }
      const last = reports.at(-1);
      if (last) io.out(`${name}: ${last.fileCount} files, ${last.chunkCount} chunks`);
      return reports.some((report) => report.added.length > 0) || files.length === 0 ? 0 : 1;
    }));

  sub('search')
    .description('the best chunks for a query')
    .argument('<name>', 'collection name')
    .argument('<query>', 'what to look for')
    .option('-k <n>', 'how many chunks (default 5)', integerArg(1), 5)
    .option('--mode <mode>', 'hybrid, vector or lexical (default: hybrid with embeddings, else lexical)')
    .option('--json', 'print the results as JSON')
    .action((name: string, query: string, flags: SearchFlags) => withRag(flags, async (rag) => {
      const results = await rag.search(name, query, { k: flags.k, mode: flags.mode });
      if (flags.json) {
        io.out(JSON.stringify(results, null, 2));
        return 0;
      }
      if (results.length === 0) io.out('(no matches)');
      for (const [i, result] of results.entries()) {
        io.out(`${i + 1}. ${result.file} #${result.index} (score ${result.score.toFixed(3)})\n   ${result.text.replace(/\s+/g, ' ').slice(0, 300)}`);
      }
      return 0;
    }));

  sub('list')
    .description('the collections, with their files and chunks')
    .action((flags: AkachatFlags) => withRag(flags, async (rag) => {
      const infos = await rag.list();
      if (infos.length === 0) {
        io.out('No collections yet (akachat rag create <name>).');
        return 0;
      }
      io.out(table([
        ['name', 'files', 'chunks', 'embedding model', 'updated'],
        ...infos.map((info) => [info.name, String(info.fileCount), String(info.chunkCount), info.embedding?.model ?? '(lexical)', info.updatedAt]),
      ]));
      return 0;
    }));

  sub('delete')
    .description('delete a collection and its files')
    .argument('<name>', 'collection name')
    .action((name: string, flags: AkachatFlags) => withRag(flags, async (rag) => {
      await rag.delete(name);
      io.out(`Deleted ${name}`);
      return 0;
    }));
}

/** Runs one ingest with a progress bar over its phases. */
async function ingest(io: CliIo, label: string, run: (onProgress: (progress: IngestProgress) => void) => Promise<IngestReport>): Promise<IngestReport> {
  const bar = progressBar(io, { label: `adding ${label}`, unit: 'items' });
  const started = performance.now();
  try {
    return await run((progress) => bar.update(progress.done, progress.total || undefined, progress.phase));
  } finally {
    bar.stop();
    io.err(`(${formatDuration(performance.now() - started)})`);
  }
}

/** Zip, tar or gzip by its first bytes (a tar's magic is at byte 257). */
async function isArchive(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const head = new Uint8Array(512);
    const { bytesRead } = await file.read(head, 0, 512, 0);
    const { detectArchiveFormat } = await import('../rag/archive.js');
    return detectArchiveFormat(head.subarray(0, bytesRead)) !== undefined;
  } finally {
    await file.close();
  }
}
