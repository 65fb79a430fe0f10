/**
 * Runs `akachat` as users do: a child process (node + tsx on src/cli.ts), with its own
 * environment, stdin and exit code; or in-process through main() with an io that records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliIo } from '../../src/cli.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const tsx = join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const entry = join(repoRoot, 'src', 'cli.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `akachat <args>`; the environment is the test's minus AKACHAT_* (set what a case needs in `env`). */
export function spawnCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string; nodeArgs?: string[] } = {}): ChildProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AKACHAT_') || key === 'AKACHAT_ADDON_PATH'));
  return spawn(process.execPath, [...(options.nodeArgs ?? []), tsx, entry, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `akachat <args>` to the end, feeding `input` on stdin. */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; cwd?: string; input?: string; nodeArgs?: string[]; timeoutMs?: number } = {}): Promise<CliRun> {
  const child = spawnCli(args, options);
  return collect(child, options.input, options.timeoutMs);
}

export function collect(child: ChildProcess, input?: string, timeoutMs = 50_000): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (input !== undefined) child.stdin!.end(input);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`akachat did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** An io that records what main() writes. */
export function memoryIo(env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (line) => out.push(line),
    err: (line) => err.push(line),
    write: (text) => out.push(text),
    env,
    onStop: () => {},
    onInterrupt: () => () => {},
  };
  return { io, out, err, text: () => out.join('\n'), errors: () => err.join('\n') };
}
