// The runtime's environment: CNI_COMMAND and the container it is about, and CNI_ARGS
// ("K=V;K=V", unknown keys refused unless IgnoreUnknown is true).

import { CniCode, CniError } from './cni-error.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION'] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface CniArgs {
  /** IP=: the address asked for */
  ip?: string;
  /** K8S_POD_NAME (Podman passes the container's name here): the name other containers resolve */
  podName?: string;
}

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** "" on a DEL whose namespace is already gone */
  netns: string;
  ifName: string;
  args: CniArgs;
}

/** Keys a runtime passes that need no support of their own. */
const ACCEPTED = new Set(['IgnoreUnknown', 'IP', 'K8S_POD_NAME', 'K8S_POD_NAMESPACE', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID']);

function parseBool(key: string, v: string): boolean {
  const l = v.toLowerCase();
  if (l === '1' || l === 'true') return true;
  if (l === '0' || l === 'false') return false;
  throw new CniError(CniCode.invalidEnvironment, `invalid CNI_ARGS: ${key}=${v} is neither true nor false`);
}

export function parseCniArgs(text: string): CniArgs {
  const pairs: [string, string][] = [];
  for (const part of text.split(';')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new CniError(CniCode.invalidEnvironment, `invalid CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE`);
    pairs.push([part.slice(0, eq), part.slice(eq + 1)]);
  }
  const ignoreUnknown = pairs.some(([k, v]) => k === 'IgnoreUnknown' && parseBool(k, v));
  const args: CniArgs = {};
  for (const [k, v] of pairs) {
    if (k === 'IP') args.ip = v;
    else if (k === 'K8S_POD_NAME' && v !== '') args.podName = v;
    else if (!ACCEPTED.has(k) && !ignoreUnknown) {
      throw new CniError(CniCode.invalidEnvironment, `invalid CNI_ARGS: unknown key ${k} (add IgnoreUnknown=1 to ignore it)`);
    }
  }
  return args;
}

function required(env: NodeJS.ProcessEnv, key: string, allowEmpty = false): string {
  const v = env[key];
  if (v === undefined || (!allowEmpty && v === '')) throw new CniError(CniCode.invalidEnvironment, `${key} is not set`);
  return v;
}

/** The command alone: VERSION needs nothing else. */
export function commandOf(env: NodeJS.ProcessEnv): CniCommand {
  const c = required(env, 'CNI_COMMAND');
  if (!(COMMANDS as readonly string[]).includes(c)) {
    throw new CniError(CniCode.invalidEnvironment, `unknown CNI_COMMAND ${JSON.stringify(c)}: pontoon-cni knows ${COMMANDS.join(', ')}`);
  }
  return c as CniCommand;
}

export function parseCniEnv(env: NodeJS.ProcessEnv): CniEnv {
  const command = commandOf(env);
  const containerId = required(env, 'CNI_CONTAINERID');
  const netns = required(env, 'CNI_NETNS', command === 'DEL');
  const ifName = required(env, 'CNI_IFNAME');
  required(env, 'CNI_PATH', true);
  return { command, containerId, netns, ifName, args: parseCniArgs(env['CNI_ARGS'] ?? '') };
}
