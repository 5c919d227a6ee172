/**
 * Calling the built pontoon-cni as a runtime (or cnitool) does: the CNI_* environment and the
 * network configuration on stdin; what it printed and how it exited. Must not import vitest.
 */
import { join } from 'node:path';
import { packageRoot, run } from './harness.js';

export const pluginPath = (): string => join(packageRoot(), 'dist', 'src', 'cni', 'main.js');

export interface CniCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | string;
  containerId?: string;
  netns?: string;
  ifName?: string;
  args?: string;
  /** the network configuration: an object (serialised) or the exact text */
  config: Record<string, unknown> | string;
}

export interface CniOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, or undefined when it is empty */
  json: unknown;
}

export async function callPlugin(c: CniCall): Promise<CniOutcome> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    CNI_COMMAND: c.command,
    CNI_CONTAINERID: c.containerId ?? '',
    CNI_NETNS: c.netns ?? '',
    CNI_IFNAME: c.ifName ?? 'eth0',
    CNI_ARGS: c.args ?? '',
    CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
  };
  const input = typeof c.config === 'string' ? c.config : JSON.stringify(c.config);
  // executed directly, as a runtime does: the shebang and the executable bit are part of what is tested
  const r = await run([pluginPath()], { env, input, timeoutMs: 30_000 });
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json: r.stdout === '' ? undefined : JSON.parse(r.stdout) };
}
