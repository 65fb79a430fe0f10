/**
 * `akachat run <prompt> [input]`: runs a saved prompt once, streaming the reply to stdout
 * (`--json`: the whole result instead). Input `-` reads stdin. Ctrl-C stops the generation.
 */
import { text as readAll } from 'node:stream/consumers';
import type { Command } from 'commander';
import { INTERRUPTED, stopSignal, writer, type CliIo } from './io.js';
import { addAkachatOptions, addGenerationOptions, generationOverrides, openAkachat, type AkachatFlags, type GenerationFlags } from './options.js';

interface RunFlags extends AkachatFlags, GenerationFlags {
  json?: boolean;
}

export function registerRun(program: Command, io: CliIo, exit: (code: number) => void): void {
  const command = program
    .command('run')
    .description('run a saved prompt once, streaming the reply to stdout')
    .argument('<prompt>', 'saved prompt name (prompt/<name>.txt), sub-folders with /')
    .argument('[input]', 'the input ({input} in the prompt); - reads stdin', '')
    .option('--json', 'print the whole result as JSON (text, usage, timings, options, instruction, messages) instead of streaming');
  addGenerationOptions(command);
  addAkachatOptions(command);
  command.action(async (name: string, inputArg: string, flags: RunFlags) => exit(await runPrompt(name, inputArg, flags, io)));
}

async function runPrompt(name: string, inputArg: string, flags: RunFlags, io: CliIo): Promise<number> {
  const overrides = generationOverrides(flags);
  const input = inputArg === '-' ? await readAll(io.stdin ?? process.stdin) : inputArg;
  const akachat = await openAkachat(flags, io);
  const signal = stopSignal(io);
  try {
    const prompt = await akachat.prompt(name);
    const stream = prompt.stream(input, { overrides, signal });
    const write = writer(io);
    let wrote = false;
    try {
      for await (const text of stream) {
        if (flags.json) continue;
        write(text);
        wrote = true;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    }
    if (wrote) write('\n');
    if (signal.aborted) {
      io.err('(stopped)');
      return INTERRUPTED;
    }
    const result = await stream.result;
    if (flags.json) io.out(JSON.stringify(result, null, 2));
    return 0;
  } finally {
    await akachat.dispose();
  }
}
