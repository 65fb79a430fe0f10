/**
 * Model files: `pull` (download an hf: reference into the cache, resumable), `models` (the
 * models folder and the cache), `info` (a GGUF's metadata) and `quantize`.
 */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { addonAvailable } from '../engine/addon.js';
import type { GgufValue } from '../engine/addon-types.js';
import { readGgufMetadata, type GgufMetadata } from '../engine/gguf.js';
import { ggufFileTypes, quantize, type GgufFileType } from '../engine/quantize.js';
import { AbortError } from '../errors.js';
import { downloadHubModel, hubFileReference, parseHubReference } from '../llm/hub.js';
import { formatBytes, INTERRUPTED, stopSignal, table, UsageError, type CliIo } from './io.js';
import { progressBar, spinner } from './progress.js';
import { checkedFolder, checkedThreads } from './serve.js';

/** Where downloads and quantized copies go (as ModelManager's default). */
function cacheDirOf(io: CliIo, flag?: string): string {
  return resolve(flag ?? (io.env.AKACHAT_CACHE_DIR || join(homedir(), '.cache', 'akachat')));
}

export function registerModels(program: Command, io: CliIo, exit: (code: number) => void): void {
  program
    .command('pull')
    .description('download a model from Hugging Face into the cache (an interrupted download resumes)')
    .argument('<reference>', 'hf:owner/repo:QUANT (the repo\'s GGUF whose name has QUANT) or hf:owner/repo/file.gguf')
    .option('--cache-dir <folder>', 'download cache (default: AKACHAT_CACHE_DIR or ~/.cache/akachat)')
    .action(async (reference: string, flags: { cacheDir?: string }) => {
      try {
        parseHubReference(reference);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const signal = stopSignal(io);
      const bar = progressBar(io, { label: 'pull', unit: 'bytes' });
      let path: string;
      try {
        path = await downloadHubModel(reference, {
          cacheDir: cacheDirOf(io, flags.cacheDir),
          endpoint: io.env.AKACHAT_HF_ENDPOINT || undefined,
          token: io.env.HF_TOKEN || undefined,
          signal,
          onProgress: (progress) => bar.update(progress.downloadedBytes, progress.totalBytes, progress.file),
        });
      } catch (error) {
        bar.stop();
        if (signal.aborted || error instanceof AbortError) {
          io.err('Stopped. Run the same command again to resume the download.');
          return exit(INTERRUPTED);
        }
        throw error;
      }
      bar.stop();
      io.out(path);
      exit(0);
    });

  program
    .command('models')
    .description('GGUF files in the models folder and in the download cache, with sizes and types')
    .option('--models-dir <folder>', 'folder of GGUF files [AKACHAT_MODELS_DIR]')
    .option('--cache-dir <folder>', 'download cache (default: AKACHAT_CACHE_DIR or ~/.cache/akachat)')
    .option('--json', 'print the list as JSON')
    .action(async (flags: { modelsDir?: string; cacheDir?: string; json?: boolean }) => {
      const modelsDir = checkedFolder(flags.modelsDir ?? (io.env.AKACHAT_MODELS_DIR || undefined), '--models-dir');
      const cacheDir = cacheDirOf(io, flags.cacheDir);
      const sections = [
        ...(modelsDir ? [{ title: `Models folder ${modelsDir}`, folder: modelsDir, files: await describeFiles(modelsDir, (path) => relative(modelsDir, path).split(sep).join('/').replace(/\.gguf$/i, '')) }] : []),
        { title: `Download cache ${cacheDir}`, folder: cacheDir, files: await describeFiles(cacheDir, (path) => cacheName(cacheDir, path)) },
      ];
      if (flags.json) {
        io.out(JSON.stringify(sections.map(({ folder, files }) => ({ folder, files })), null, 2));
        return exit(0);
      }
      if (!modelsDir) io.out('No models folder (--models-dir or AKACHAT_MODELS_DIR).');
      for (const section of sections) {
        io.out(`${section.title}:`);
        if (section.files.length === 0) io.out('  (no GGUF files)');
        else io.out(table([['name', 'size', 'type', 'architecture'], ...section.files.map((f) => [f.name, formatBytes(f.bytes), f.type, f.architecture])]).replace(/^/gm, '  '));
      }
      exit(0);
    });

  program
    .command('info')
    .description('a GGUF file\'s metadata: architecture, size, type, context length, parameters, chat template')
    .argument('<gguf>', 'path of a GGUF file')
    .option('--json', 'print every metadata key as JSON')
    .option('--keys', 'also list every metadata key')
    .action(async (path: string, flags: { json?: boolean; keys?: boolean }) => {
      const meta = await readGgufMetadata(resolve(path));
      const bytes = (await stat(path)).size;
      if (flags.json) {
        io.out(JSON.stringify({ path: resolve(path), bytes, ...meta, type: fileTypeName(meta.fileType) }, null, 2));
        return exit(0);
      }
      const m = meta.metadata;
      const arch = meta.architecture ?? '';
      const num = (key: string) => (typeof m[key] === 'number' ? String(m[key]) : undefined);
      const vocab = m['tokenizer.ggml.tokens'];
      const rows: [string, string | undefined][] = [
        ['file', resolve(path)],
        ['size', `${formatBytes(bytes)} (${bytes} bytes)`],
        ['name', meta.name],
        ['architecture', meta.architecture],
        ['type', fileTypeName(meta.fileType) || undefined],
        ['parameters', parameterCount(m)],
        ['context length', meta.trainContextSize?.toString()],
        ['embedding length', num(`${arch}.embedding_length`)],
        ['layers', num(`${arch}.block_count`)],
        ['attention heads', num(`${arch}.attention.head_count`)],
        // Arrays over 1024 items come as { type: 'array', length }.
        ['vocabulary', Array.isArray(vocab) ? String(vocab.length) : vocab && typeof vocab === 'object' ? String(vocab.length) : undefined],
        ['tokenizer', typeof m['tokenizer.ggml.model'] === 'string' ? m['tokenizer.ggml.model'] : undefined],
        ['tensors', String(meta.tensorCount)],
        ['GGUF version', String(meta.version)],
      ];
      io.out(table(rows.filter(([, value]) => value !== undefined) as string[][]));
      io.out(meta.chatTemplate ? `chat template:\n${meta.chatTemplate}` : 'chat template: (none)');
      if (flags.keys) {
        io.out('metadata:');
        for (const [key, value] of Object.entries(m).sort(([a], [b]) => a.localeCompare(b))) io.out(`  ${key} = ${showValue(value)}`);
      }
      exit(0);
    });

  program
    .command('quantize')
    .description('write a GGUF as another type (Q4_K_M, Q8_0, F16, ...)')
    .argument('<input>', 'GGUF to read')
    .argument('<output>', 'GGUF to write (appears when complete)')
    .argument('<type>', Object.keys(ggufFileTypes).join(', '))
    .option('-t, --threads <n>', 'CPU threads (default: all)')
    .action(async (input: string, output: string, type: string, flags: { threads?: string }) => {
      const key = type.toUpperCase();
      if (!(key in ggufFileTypes)) throw new UsageError(`Expected a type (${Object.keys(ggufFileTypes).join(', ')}) but received ${JSON.stringify(type)}`);
      const threads = checkedThreads(flags.threads);
      const before = (await stat(input).catch(() => undefined))?.size;
      if (before === undefined) throw new UsageError(`GGUF file not found: ${resolve(input)}`);
      const signal = stopSignal(io);
      const progress = spinner(io, `Quantizing ${input} to ${key}`);
      try {
        await quantize(input, output, key as GgufFileType, { threads, signal });
      } finally {
        progress.stop();
      }
      const after = (await stat(output)).size;
      io.out(`${output}: ${formatBytes(after)} (from ${formatBytes(before)}, ${((after / before) * 100).toFixed(0)}%)`);
      exit(0);
    });
}

interface FileEntry {
  name: string;
  path: string;
  bytes: number;
  type: string;
  architecture: string;
}

/** Every .gguf (and unfinished .gguf.partial) below `folder`, sorted by name. */
async function describeFiles(folder: string, nameOf: (path: string) => string): Promise<FileEntry[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: FileEntry[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !/\.gguf(\.partial)?$/i.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const bytes = (await stat(path)).size;
    if (entry.name.endsWith('.partial')) {
      files.push({ name: `${nameOf(path.slice(0, -'.partial'.length))} (partial: pull again to resume)`, path, bytes, type: '', architecture: '' });
      continue;
    }
    let meta: GgufMetadata | undefined;
    if (addonAvailable()) meta = await readGgufMetadata(path).catch(() => undefined);
    files.push({ name: nameOf(path), path, bytes, type: meta ? fileTypeName(meta.fileType) || '-' : '?', architecture: meta?.architecture ?? '?' });
  }
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

/** A cached file by the name that fetches it: hf:owner/repo/file.gguf, or its path below the cache. */
function cacheName(cacheDir: string, path: string): string {
  const parts = relative(cacheDir, path).split(sep);
  if (parts[0] === 'hf' && parts.length >= 5) {
    const [, owner, repo, revision, ...file] = parts;
    return hubFileReference({ owner, repo, revision }, file.join('/'));
  }
  return parts.join('/');
}

const FILE_TYPE_NAMES = new Map<number, string>(Object.entries(ggufFileTypes).map(([name, value]) => [value, name]));

/** `general.file_type` as a name (Q4_K_M, F16, ...), `ftype N` for others, '' when absent. */
function fileTypeName(fileType: number | undefined): string {
  if (fileType === undefined) return '';
  return FILE_TYPE_NAMES.get(fileType) ?? `ftype ${fileType}`;
}

/** `general.parameter_count` (e.g. 6.7B), else `general.size_label`. */
function parameterCount(m: Record<string, GgufValue>): string | undefined {
  const count = m['general.parameter_count'];
  if (typeof count === 'number') {
    const n = count;
    return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}K` : String(n);
  }
  return typeof m['general.size_label'] === 'string' ? m['general.size_label'] : undefined;
}

function showValue(value: GgufValue): string {
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 200)}... (${text.length} characters)` : text;
}
