/**
 * The `akachat` command line, on commander: one sub-command per file in this folder. Usage
 * errors (commander's and ours) print the message and a hint naming the command's --help, and
 * exit with code 2; other failures print the message and exit with code 1.
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { registerBatch } from './batch.js';
import { registerChat } from './chat.js';
import { UsageError, type CliIo } from './io.js';
import { registerModels } from './models.js';
import { registerRag } from './rag.js';
import { registerRun } from './run.js';
import { runServe, serveConfig, serveOptions } from './serve.js';

/** Runs the CLI; resolves with the exit code (for `serve`: when the server has stopped). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const exit = (value: number) => void (code = value);
  const program = new Command('akachat')
    .description('Local LLMs for digital humans: the WebAPI, prompts, chat, batch comparisons, RAG and model files')
    .version(packageJson.version, '-v, --version', 'show the version')
    .helpOption('-h, --help', 'show this help')
    .helpCommand('help [command]', 'show the help of a command')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text.replace(/\n$/, '')),
      writeErr: (text) => io.err(text.replace(/\n$/, '')),
      outputError: (text, write) => write(text.replace(/^error: /, 'akachat: ')),
    })
    .addHelpText('after', '\nRun "akachat <command> --help" for a command\'s options.');

  const serve = serveOptions(program.command('serve'));
  serve.action(async (flags) => exit(await runServe(serveConfig(flags, io.env), io)));
  registerRun(program, io, exit);
  registerChat(program, io, exit);
  registerBatch(program, io, exit);
  registerRag(program, io, exit);
  registerModels(program, io, exit);

  let active: Command = program;
  program.hook('preAction', (_, command) => void (active = command));
  for (const command of allCommands(program)) command.showHelpAfterError(hint(command));

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end in a CommanderError too; a bare `akachat` shows the help as an error.
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? 0 : 2;
    }
    io.err(`akachat: ${error instanceof Error ? error.message : String(error)}`);
    if (error instanceof UsageError) {
      io.err(hint(active));
      return 2;
    }
    return 1;
  }
}

function* allCommands(command: Command): Generator<Command> {
  yield command;
  for (const sub of command.commands) yield* allCommands(sub);
}

function hint(command: Command): string {
  const path: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) path.unshift(c.name());
  return path.length === 1 ? 'Run "akachat --help" for the commands.' : `Run "${path.join(' ')} --help" for the options.`;
}
