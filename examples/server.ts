/**
 * The akachat WebAPI (`npm start`): `akachat serve` with the same flags and environment
 * variables, except that the data folder defaults to `data/` in this repository (git-ignored)
 * instead of the current folder, so what the server writes (log/, vars/, rag/, config.json)
 * never lands in the source tree. A new data/ starts with a copy of the sample prompts in
 * prompt/. Try `npm start -- --help`.
 *
 *   npm start -- --model ./models/your-model.gguf --port 50000
 *   open http://127.0.0.1:50000/docs
 */
import { cpSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli.js';

const args = process.argv.slice(2);
const dataGiven = args.some((arg) => /^(--data|-d)(=|$)|^-d./.test(arg)) || Boolean(process.env.AKACHAT_DATA);
if (!dataGiven && !args.some((arg) => arg === '-h' || arg === '--help')) {
  const data = fileURLToPath(new URL('../data', import.meta.url));
  if (!existsSync(data)) cpSync(fileURLToPath(new URL('../prompt', import.meta.url)), `${data}/prompt`, { recursive: true });
  args.unshift('--data', data);
}
process.exitCode = await main(['serve', ...args]);
