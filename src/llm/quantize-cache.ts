/**
 * Where a quantized copy of a GGUF file is cached. The name carries the source file's identity
 * (real path, size, modification time), not only its base name: two different `model.gguf` files
 * never share a cached copy, and a source file that changed is quantized again.
 */
import { createHash } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

export function quantizedCachePath(cacheDir: string, source: string, ggufType: string): string {
  const real = realpathSync(source);
  const stat = statSync(real);
  const identity = createHash('sha256').update(`${real}\0${stat.size}\0${stat.mtimeMs}`).digest('hex').slice(0, 16);
  return join(cacheDir, 'quantized', `${basename(real, '.gguf')}.${identity}.${ggufType}.gguf`);
}
