/** Archives that once froze the server, and a probe of how long the JS thread stays busy. */
import { zipSync } from 'fflate';

const encode = (text: string) => new TextEncoder().encode(text);

/** A zip holding an HTML 200,000 elements deep (reproduced: blocked every request 10-74 s). */
export function deepHtmlZip(): Uint8Array<ArrayBuffer> {
  return zipSync({ 'deep.html': encode('<div>'.repeat(200_000) + 'bottom'), 'ok.md': encode('# Manual\n\nThe red button resets the robot.') });
}

/** A zip holding a CSV 50,000 columns wide and a JSON 500,000 levels deep (reproduced: over 170 s). */
export function wideCsvDeepJsonZip(): Uint8Array<ArrayBuffer> {
  const row = Array.from({ length: 50_000 }, (_, i) => `c${i}`).join(',');
  return zipSync({
    'wide.csv': encode(Array.from({ length: 20 }, () => row).join('\n')),
    'deep.json': encode('['.repeat(500_000) + ']'.repeat(500_000)),
    'ok.md': encode('The blue button starts the robot.'),
  });
}

/**
 * Measures the event-loop lag: how much later than due a 10 ms interval fires, at worst.
 * `stop()` returns the worst lag in milliseconds.
 */
export function watchEventLoopLag(): { stop: () => number } {
  const period = 10;
  let worst = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - period);
    last = now;
  }, period);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(worst, performance.now() - last - period);
    },
  };
}

/** CPU milliseconds the whole process (all its threads) spends over the next `ms` milliseconds. */
export async function cpuMsOver(ms: number): Promise<number> {
  const before = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}
