/** Whether the BPF tests can run here; a one-line reason when not. */
import { missingCapabilities } from '@panopticon/capture';
import { libbpf } from '@panopticon/capture';
import { spawnSync } from 'node:child_process';

export function bpfUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'BPF capture needs Linux';
  const missing = missingCapabilities();
  if (missing.length) return `needs root (${missing.join(', ')} missing)`;
  try {
    libbpf();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

export function toolMissing(...tools: string[]): string | undefined {
  for (const t of tools) {
    const r = spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' });
    if (r.status !== 0) return `${t} is not installed`;
  }
  return undefined;
}
