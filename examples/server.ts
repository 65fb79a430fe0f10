/**
 * The akachat WebAPI (`npm start`): the same as `akachat serve`, with the same flags and
 * environment variables. Try `npm start -- --help`.
 *
 *   npm start -- --model ./models/your-model.gguf --port 50000
 *   open http://127.0.0.1:50000/docs
 */
import { main } from '../src/cli.js';

process.exitCode = await main(['serve', ...process.argv.slice(2)]);
