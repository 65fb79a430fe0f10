import { cpus, hostname, platform, release, totalmem } from 'node:os';
import { systemInfo } from '../src/engine/index.js';

/** The machine a benchmark ran on, for its results file. */
export function describeMachine() {
  const info = systemInfo();
  return {
    host: hostname(),
    os: `${platform()} ${release()}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    cuda: info.cuda,
    devices: info.devices.map((d) => `${d.type}: ${d.description} (${Math.round(d.memoryTotal / 2 ** 30)} GiB)`),
    cpuFeatures: info.cpuFeatures,
  };
}
