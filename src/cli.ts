#!/usr/bin/env node
/**
 * The `akachat` command: `serve` (the WebAPI), `run`, `chat`, `batch`, `rag`, `pull`, `models`,
 * `info` and `quantize`; the commands live in src/cli/. Usage errors print a message and a hint
 * and exit with code 2; failures exit with 1.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processIo, type CliIo } from './cli/io.js';
import { runCli } from './cli/program.js';

export { UsageError, type CliIo } from './cli/io.js';
export { parseServeArgs, type ServeConfig } from './cli/serve.js';

/** Runs the CLI; resolves with the exit code (for `serve`: when the server has stopped). */
export async function main(argv: readonly string[] = process.argv.slice(2), io: CliIo = processIo()): Promise<number> {
  return runCli(argv, io);
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  // No top-level await: the package also ships this file as CommonJS.
  void main().then((code) => {
    process.exitCode = code;
    // Native threads or sockets left behind must not keep a finished command alive.
    setTimeout(() => process.exit(code), 2000).unref();
  });
}
