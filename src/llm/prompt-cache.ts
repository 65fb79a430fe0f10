/**
 * Saved prompt states that outlast the process: after a call whose prompt is long (a persona),
 * the slot that ran it is written to disk (tokens and KV cells); after a restart, a call whose
 * prompt shares that prefix restores it into a slot first, so it decodes only the rest, as a warm
 * call does. One folder per model file identity (real path, size, modification time) and slot
 * size: a changed model file or another context shape never sees old states. Each folder keeps
 * at most `maxBytes`, the least recently used states going first. A corrupt or unreadable state
 * or index is ignored (with a warning) and removed, never loaded into a slot.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from '../engine/index.js';
import { expectInteger, expectString } from '../validate.js';

export interface PromptCacheOptions {
  /** Folder for the saved states (a subfolder per model identity and slot size). */
  dir: string;
  /** Disk one model's saved states may use, in bytes. Default 1 GiB. */
  maxBytes?: number;
  /** Shorter shared prefixes are not worth a file (decoding them is cheap). Default 256 tokens. */
  minTokens?: number;
  /** Told when a saved state is ignored. Default: console.warn. */
  onWarning?: (message: string) => void;
}

interface Entry {
  file: string;
  tokens: number[];
  bytes: number;
  lastUsed: number;
}

const INDEX = 'index.json';

function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** The saved states of one model file at one slot size. */
export class PromptStateCache {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #minTokens: number;
  readonly #warn: (message: string) => void;
  #entries?: Promise<Entry[]>;
  #queue: Promise<void> = Promise.resolve();
  // States known to be in some slot of a context already (restored or saved from there).
  readonly #present = new WeakMap<Context, Set<string>>();

  constructor(options: PromptCacheOptions, modelPath: string, slotSize: number) {
    expectString(options.dir, 'promptCache.dir');
    this.#maxBytes = expectInteger(options.maxBytes ?? 2 ** 30, 'promptCache.maxBytes', 0);
    this.#minTokens = expectInteger(options.minTokens ?? 256, 'promptCache.minTokens', 1);
    this.#warn = options.onWarning ?? ((message) => console.warn(`[akachat] ${message}`));
    const real = realpathSync(modelPath);
    const { size, mtimeMs } = statSync(real);
    const identity = createHash('sha256').update(`${real}\0${size}\0${mtimeMs}\0${slotSize}`).digest('hex').slice(0, 16);
    this.dir = join(options.dir, identity);
  }

  /** Before a call: restores the saved state sharing the longest prefix with `tokens` into a free slot. */
  restore(context: Context, tokens: Int32Array): Promise<void> {
    return this.#serial(async () => {
      const entries = await this.#load();
      let best: Entry | undefined;
      let bestLength = 0;
      for (const entry of entries) {
        const length = commonPrefix(entry.tokens, tokens);
        if (length > bestLength) { best = entry; bestLength = length; }
      }
      const present = this.#presentIn(context);
      if (!best || bestLength < this.#minTokens || present.has(best.file)) return;
      const slot = this.#freestSlot(context);
      try {
        await context.loadSlot(slot, join(this.dir, best.file));
      } catch (err) {
        this.#warn(`Ignoring the saved prompt state ${join(this.dir, best.file)}: ${(err as Error).message}`);
        await this.#drop(entries, best);
        return;
      }
      present.add(best.file);
      best.lastUsed = Date.now();
      await this.#writeIndex(entries);
    });
  }

  /** After a call: saves the slot holding `tokens` when no saved state shares a long prefix with them yet. */
  remember(context: Context, tokens: Int32Array): Promise<void> {
    return this.#serial(async () => {
      if (tokens.length < this.#minTokens || context.disposed) return;
      const entries = await this.#load();
      const present = this.#presentIn(context);
      const known = entries.find((e) => commonPrefix(e.tokens, tokens) >= this.#minTokens);
      if (known) { present.add(known.file); return; }
      // The slot that ran the call holds at least its prompt; the tokens saved tell for sure.
      const slot = context.slots.findIndex((s) => s.state === 'idle' && s.cachedTokens >= tokens.length);
      if (slot < 0) return;
      await mkdir(this.dir, { recursive: true });
      const file = `${createHash('sha256').update(Buffer.from(tokens.buffer, tokens.byteOffset, tokens.byteLength)).digest('hex').slice(0, 24)}.kv`;
      const partial = join(this.dir, `${file}.${process.pid}.partial`);
      try {
        const saved = await context.saveSlot(slot, partial);
        if (commonPrefix(saved, tokens) < this.#minTokens) return; // another call took the slot meanwhile
        await rename(partial, join(this.dir, file));
        const { size } = await stat(join(this.dir, file));
        entries.push({ file, tokens: [...saved], bytes: size, lastUsed: Date.now() });
        present.add(file);
        entries.sort((a, b) => b.lastUsed - a.lastUsed);
        let total = entries.reduce((sum, e) => sum + e.bytes, 0);
        while (total > this.#maxBytes && entries.length > 0) {
          const oldest = entries.at(-1)!;
          total -= oldest.bytes;
          await this.#drop(entries, oldest);
        }
        await this.#writeIndex(entries);
      } finally {
        await rm(partial, { force: true });
      }
    });
  }

  /** Resolves when the saves and restores asked for so far are done. */
  idle(): Promise<void> {
    return this.#queue.then(() => {});
  }

  // One save or restore at a time; a failure (a full disk, say) is a warning, never the call's error.
  #serial(job: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(job).catch((err: unknown) => this.#warn(`Prompt state cache in ${this.dir}: ${(err as Error).message}`));
    this.#queue = run;
    return run;
  }

  #presentIn(context: Context): Set<string> {
    let set = this.#present.get(context);
    if (!set) this.#present.set(context, (set = new Set()));
    return set;
  }

  /** An idle slot holding the fewest tokens (the one whose cache is cheapest to lose). */
  #freestSlot(context: Context): number {
    const slots = context.slots;
    const idle = slots.filter((s) => s.state === 'idle');
    const pool = idle.length > 0 ? idle : slots;
    return pool.reduce((a, b) => (b.cachedTokens < a.cachedTokens ? b : a)).id;
  }

  #load(): Promise<Entry[]> {
    this.#entries ??= (async () => {
      let text: string;
      try {
        text = await readFile(join(this.dir, INDEX), 'utf8');
      } catch {
        return [];
      }
      try {
        const parsed = JSON.parse(text) as unknown;
        if (!Array.isArray(parsed)) throw new Error('not a list');
        return parsed.filter((e): e is Entry => typeof e?.file === 'string' && /^[0-9a-f]+\.kv$/.test(e.file)
          && Array.isArray(e.tokens) && e.tokens.every((t: unknown) => Number.isInteger(t))
          && Number.isFinite(e.bytes) && Number.isFinite(e.lastUsed));
      } catch (err) {
        this.#warn(`Ignoring the unreadable prompt state index ${join(this.dir, INDEX)}: ${(err as Error).message}`);
        return [];
      }
    })();
    return this.#entries;
  }

  async #drop(entries: Entry[], entry: Entry): Promise<void> {
    entries.splice(entries.indexOf(entry), 1);
    await rm(join(this.dir, entry.file), { force: true });
    await this.#writeIndex(entries);
  }

  async #writeIndex(entries: Entry[]): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const partial = join(this.dir, `${INDEX}.${process.pid}.partial`);
    await writeFile(partial, JSON.stringify(entries));
    await rename(partial, join(this.dir, INDEX));
  }
}
