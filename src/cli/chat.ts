/**
 * `akachat chat [prompt]`: a terminal chat with a model, or with a saved prompt as the persona
 * (its evaluated instruction leads every turn), like `ollama run`. The history is kept for the
 * session; Ctrl-C stops the current reply, a second Ctrl-C at the prompt exits, as do `/bye`
 * and end of input. Works with piped stdin too (one line per turn, no prompt shown).
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ChatMessage } from '../prompt/messages.js';
import type { RawOptions } from '../prompt/options.js';
import { UsageError, writer, type CliIo } from './io.js';
import { addAkachatOptions, addGenerationOptions, generationOverrides, openAkachat, type AkachatFlags, type GenerationFlags } from './options.js';

interface ChatFlags extends AkachatFlags, GenerationFlags {
  system?: string;
  verbose?: boolean;
}

const HELP = `Commands:
  /clear   forget the conversation so far
  /bye     exit (also Ctrl-D, or Ctrl-C twice)
  /help    this list`;

export function registerChat(program: Command, io: CliIo, exit: (code: number) => void): void {
  const command = program
    .command('chat')
    .description('chat with a model, or with a saved prompt as the persona (Ctrl-C stops a reply, /bye exits)')
    .argument('[prompt]', 'saved prompt to chat with (its instruction leads every turn)')
    .option('-s, --system <text>', 'system message when no saved prompt is given')
    .option('--verbose', 'after each reply, print token counts and speed on stderr');
  addGenerationOptions(command);
  addAkachatOptions(command);
  command.action(async (name: string | undefined, flags: ChatFlags) => exit(await chat(name, flags, io)));
}

async function chat(name: string | undefined, flags: ChatFlags, io: CliIo): Promise<number> {
  if (name !== undefined && flags.system !== undefined) throw new UsageError('Give either a saved prompt or --system, not both (the prompt\'s instruction is its system part)');
  // Messages mode whatever the prompt's template: the history needs chat messages.
  const overrides: RawOptions = { ...generationOverrides(flags), is_messages: true };
  const akachat = await openAkachat(flags, io);
  try {
    if (name === undefined && overrides.model === undefined && !akachat.defaultModel) {
      throw new UsageError('chat needs a model: --model <file.gguf | hf:owner/repo:QUANT>, AKACHAT_MODEL, or a saved prompt that names one');
    }
    const prompt = name === undefined ? akachat.createPrompt(flags.system ?? '', {}, '(chat)') : await akachat.prompt(name);
    return await converse(io, async (input, history, signal, write) => {
      const stream = prompt.stream(input, { overrides, history, signal });
      for await (const text of stream) write(text);
      const result = await stream.result;
      if (!flags.verbose) return undefined;
      const { promptTokens, completionTokens, reusedTokens } = result.usage;
      const seconds = (result.timings?.generationMs ?? result.durationMs) / 1000;
      return `(${promptTokens} prompt tokens, ${reusedTokens ?? 0} reused, ${completionTokens} generated, ${(completionTokens / Math.max(seconds, 1e-3)).toFixed(1)} tok/s)`;
    });
  } finally {
    await akachat.dispose();
  }
}

/** Streams one reply through `write`; resolves with a note for stderr (stats), if any. */
type Reply = (input: string, history: readonly ChatMessage[], signal: AbortSignal, write: (text: string) => void) => Promise<string | undefined>;

/** The read-reply loop; resolves with the exit code. */
async function converse(io: CliIo, reply: Reply): Promise<number> {
  const stdin = io.stdin ?? process.stdin;
  const interactive = Boolean((stdin as { isTTY?: boolean }).isTTY && io.terminal);
  const rl = createInterface({ input: stdin, output: interactive ? process.stdout : undefined, terminal: interactive });
  const write = writer(io);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let closed = false;
  rl.on('line', (line) => {
    lines.push(line);
    wake?.();
  });
  rl.on('close', () => {
    closed = true;
    wake?.();
  });

  let replying: AbortController | undefined;
  let interruptsAtPrompt = 0;
  const interrupt = () => {
    if (replying) {
      replying.abort(new Error('Stopped by Ctrl-C'));
      return;
    }
    if (++interruptsAtPrompt >= 2) {
      rl.close();
      return;
    }
    io.err('\n(Ctrl-C again, /bye or Ctrl-D to exit)');
    if (interactive) rl.prompt();
  };
  // A terminal in raw mode gives Ctrl-C to readline; a pipe leaves it to the process.
  rl.on('SIGINT', interrupt);
  const unsubscribe = io.onInterrupt ? io.onInterrupt(interrupt) : (process.on('SIGINT', interrupt), () => void process.off('SIGINT', interrupt));

  const history: ChatMessage[] = [];
  rl.setPrompt('>>> ');
  try {
    if (interactive) io.err('Type a message, /help for commands, /bye to exit.');
    for (;;) {
      if (interactive && lines.length === 0 && !closed) rl.prompt();
      while (lines.length === 0 && !closed) await new Promise<void>((resolve) => (wake = resolve));
      const line = lines.shift();
      if (line === undefined) break;
      const input = line.trim();
      interruptsAtPrompt = 0;
      if (input === '') continue;
      if (input === '/bye') break;
      if (input === '/clear') {
        history.length = 0;
        io.err('(conversation cleared)');
        continue;
      }
      if (input === '/help' || input === '/?') {
        io.err(HELP);
        continue;
      }
      replying = new AbortController();
      let text = '';
      let note: string | undefined;
      try {
        note = await reply(input, history, replying.signal, (chunk) => {
          text += chunk;
          write(chunk);
        });
      } catch (error) {
        if (!replying.signal.aborted) {
          write(text ? '\n' : '');
          io.err(`akachat: ${error instanceof Error ? error.message : String(error)}`);
          replying = undefined;
          continue;
        }
      }
      write('\n');
      if (replying.signal.aborted) io.err('(stopped)');
      else if (note) io.err(note);
      replying = undefined;
      // A reply cut short stays in the history as far as it got, as ollama keeps it.
      history.push({ role: 'user', content: input }, { role: 'assistant', content: text });
    }
  } finally {
    unsubscribe();
    rl.close();
  }
  return 0;
}
