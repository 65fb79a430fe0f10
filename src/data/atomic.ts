import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Folders whose abandoned temporaries this process has already removed. */
const cleanedFolders = new Set<string>();

/**
 * Writes a file atomically: the data goes to a temporary file in the same folder, is
 * flushed to disk, then renamed over the target, and the folder is flushed so the rename
 * itself survives a power cut. A crash leaves either the old file or the new one, never a
 * half-written one; at worst a hidden temporary (see {@link tempPath}) stays behind, and the
 * first write of a later process into that folder removes it.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  if (!cleanedFolders.has(dir)) {
    await removeAbandonedTemps(dir);
    cleanedFolders.add(dir);
  }
  await withWriteToken(async (token) => {
    const tmp = tempPath(path, token);
    await writeFileSynced(tmp, data);
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  });
  await syncDirectory(dir);
}

/**
 * Writes `data` to a new file at `path` and flushes it to disk; on failure the file is removed.
 * `exclusive` refuses to replace an existing file (EEXIST).
 */
export async function writeFileSynced(path: string, data: string | Uint8Array, { exclusive = false } = {}): Promise<void> {
  const handle = await open(path, exclusive ? 'wx' : 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(path, { force: true });
    throw err;
  }
  await handle.close();
}

/**
 * Flushes a folder's entries (renames, new and removed files) to disk. Windows cannot open
 * a folder for that and orders its metadata writes itself, so there it does nothing.
 */
export async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Tokens of the writes running in this process (see {@link withWriteToken}). */
const writesInFlight = new Set<string>();

/**
 * Runs one write under a new token naming its temporary files: the writer's process id and
 * 12 random hex digits. The process id lets a later open tell a dead writer's leftovers from a
 * live one's; while `task` runs, the token also counts as live in this process.
 */
export async function withWriteToken<T>(task: (token: string) => Promise<T>): Promise<T> {
  const token = `${process.pid}.${randomBytes(6).toString('hex')}`;
  writesInFlight.add(token);
  try {
    return await task(token);
  } finally {
    writesInFlight.delete(token);
  }
}

/** True when the write named `token` can no longer finish: its process is gone, or it is this one and the write has ended. */
export function isAbandonedWrite(token: string): boolean {
  const pid = Number(token.slice(0, token.indexOf('.')));
  return pid === process.pid ? !writesInFlight.has(token) : !processIsAlive(pid);
}

/** Removes the temporaries that abandoned atomic writes left in `dir`. A missing folder has none. */
export async function removeAbandonedTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === 'ENOENT') return;
    throw err;
  }
  let removed = false;
  for (const name of names) {
    const temp = parseTempName(name);
    if (!temp || !isAbandonedWrite(temp.token)) continue;
    await rm(join(dir, name), { force: true });
    removed = true;
  }
  if (removed) await syncDirectory(dir);
}

/** The hidden temporary beside `path` for the write named `token`: `.{file}.{pid}.{hex}.tmp`. */
export function tempPath(path: string, token: string): string {
  return join(dirname(path), `.${basename(path)}.${token}.tmp`);
}

const TEMP_NAME = /^\.(.+)\.(\d+)\.([0-9a-f]{12})\.tmp$/;

/**
 * Parses a file name made by {@link tempPath}: the target's file name and the write's token, or
 * undefined for any other name.
 */
export function parseTempName(name: string): { target: string; token: string } | undefined {
  const match = TEMP_NAME.exec(name);
  if (!match) return undefined;
  return { target: match[1]!, token: `${match[2]}.${match[3]}` };
}

/**
 * True while process `pid` exists (it may belong to another user). A reused process id makes
 * a dead writer look alive; its leftovers then wait for a later open, which is harmless.
 */
function processIsAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException)?.code === 'EPERM';
  }
}

/** JSON as the original akachat wrote it: UTF-8, not ASCII-escaped, indented. */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
