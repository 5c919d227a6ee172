// Network namespaces of containers: naming them the way `docker network connect` users expect
// (an `ip netns` name, a path or a PID), and configuring the interface inside through nsenter + ip.

import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import { ApiFailure } from './gateway-api.js';

export const NETNS_RUN_DIR = '/run/netns';
const NSFS_MAGIC = 0x6e736673;
const COMMAND_TIMEOUT_MS = 10_000;

export interface NetnsRef {
  /** What the caller gave: a name, a path or a PID. */
  arg: string;
  /** The namespace file, e.g. /run/netns/c1 or /proc/1234/ns/net. */
  path: string;
  /** Display name: the `ip netns` name, `pid-N`, or the path. */
  name: string;
  /** Device and inode of the namespace: they identify it even if the path is reused. */
  dev: number;
  ino: number;
}

/** A command that exited non-zero or could not run; `stderr` is what it printed. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

/** Runs a program (no shell) with `input` on stdin; resolves with stdout, rejects with CommandError. */
export function runCommand(file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, args, { timeout: COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) {
        resolve(stdout);
        return;
      }
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const cmd = [file, ...args].join(' ');
      let reason: string;
      if (e.code === 'ENOENT') reason = `${file} not found`;
      else if (e.killed === true) reason = `timed out after ${COMMAND_TIMEOUT_MS / 1000} s`;
      else reason = firstLine(stderr) || e.message;
      reject(new CommandError(`${cmd} failed: ${reason}`, stderr));
    });
    child.stdin?.on('error', () => {
      // the child exited before reading its input: its exit status reports the problem
    });
    child.stdin?.end(input ?? '');
  });
}

/** Runs argv inside the network namespace at nsPath (`nsenter --net=PATH -- argv...`). */
export function runInNetns(nsPath: string, argv: string[], input?: string): Promise<string> {
  return runCommand('nsenter', [`--net=${nsPath}`, '--', ...argv], input);
}

/** True when the nsfs inode `ino` is a network namespace, for a path that is not a /proc symlink. */
function isNetNamespaceInode(path: string, ino: number): boolean {
  try {
    if (readlinkSync(path) === `net:[${ino}]`) return true; // /proc/PID/ns/net
  } catch {
    // not a symlink: a bind mount such as /run/netns/NAME
  }
  // the mount of a namespace file shows its type as the root: "... net:[4026532317] /run/netns/c1 ... - nsfs ..."
  const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  const root = `net:[${ino}]`;
  return mountinfo.split('\n').some((line) => line.split(' ')[3] === root);
}

/**
 * Resolves what a user gave to `network connect`: `c1` → /run/netns/c1, `1234` → /proc/1234/ns/net,
 * an absolute path → itself. The target must exist and be a network namespace.
 */
export function resolveNetns(arg: string): NetnsRef {
  let path: string;
  let name: string;
  let missing: string;
  if (/^[0-9]+$/.test(arg)) {
    path = `/proc/${arg}/ns/net`;
    name = `pid-${arg}`;
    missing = `network namespace of process ${arg} not found (no ${path})`;
  } else if (isAbsolute(arg)) {
    path = arg;
    const pid = /^\/proc\/([0-9]+)\/ns\/net$/.exec(arg);
    if (pid !== null) name = `pid-${pid[1]}`;
    else if (arg.startsWith(`${NETNS_RUN_DIR}/`) && !arg.slice(NETNS_RUN_DIR.length + 1).includes('/')) name = basename(arg);
    else name = arg;
    missing = `network namespace ${JSON.stringify(arg)} not found`;
  } else if (/^[a-zA-Z0-9_.-]+$/.test(arg) && arg !== '.' && arg !== '..') {
    path = `${NETNS_RUN_DIR}/${arg}`;
    name = arg;
    missing = `network namespace ${JSON.stringify(arg)} not found (no ${path})`;
  } else {
    throw new ApiFailure(
      400,
      `invalid network namespace ${JSON.stringify(arg)}: give a name from "ip netns", an absolute path or a PID`,
    );
  }

  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ApiFailure(404, missing);
    if (code === 'EACCES' || code === 'EPERM') throw new ApiFailure(403, `cannot open network namespace ${JSON.stringify(arg)}: permission denied`);
    throw new ApiFailure(400, `cannot open network namespace ${JSON.stringify(arg)}: ${(e as Error).message}`);
  }
  let isNsfs = false;
  try {
    isNsfs = statfsSync(path).type === NSFS_MAGIC;
  } catch {
    isNsfs = false;
  }
  if (!isNsfs || !isNetNamespaceInode(path, st.ino)) {
    throw new ApiFailure(400, `${JSON.stringify(arg)} is not a network namespace`);
  }
  return { arg, path, name, dev: st.dev, ino: st.ino };
}

/** True while the namespace file still exists and still is the same namespace. */
export function netnsStillExists(ref: { path: string; dev: number; ino: number }): boolean {
  try {
    const st = statSync(ref.path);
    return st.dev === ref.dev && st.ino === ref.ino;
  } catch {
    return false;
  }
}

/**
 * Addresses and brings up the interface `ifName` inside the namespace, in one `ip -batch`.
 * The default route is added only if the namespace has none yet: a container on several networks
 * keeps the default route of its first network, like Docker. With `ipv6`, IPv6 is switched on for
 * the interface, its link-local address is the EUI-64 one of its MAC (addrgenmode eui64), its
 * address is added without duplicate address detection (`nodad`, as libnetwork: the gateway
 * answering for the subnet must not make it fail) and the IPv6 default route goes via the
 * gateway's link-local address, again only if the namespace has none. With `cidr` null (an
 * IPv6-only network) the interface gets no IPv4 address and no IPv4 route.
 */
export async function configureInterface(
  nsPath: string,
  ifName: string,
  opts: { mac: string; cidr: string | null; mtu: number; gateway: string | null; ipv6?: { cidr: string; gateway: string | null } },
): Promise<void> {
  const v6 = opts.ipv6;
  if (v6 !== undefined) {
    try {
      await runInNetns(nsPath, ['sysctl', '-q', '-w', `net.ipv6.conf.${ifName}.disable_ipv6=0`]);
    } catch (e) {
      throw new Error(`cannot configure ${ifName} in ${nsPath}: cannot enable IPv6: ${(e as Error).message}`);
    }
  }
  const lines = [
    'link set lo up',
    `link set dev ${ifName} address ${opts.mac} mtu ${opts.mtu}`,
    ...(v6 !== undefined ? [`link set dev ${ifName} addrgenmode eui64`] : []),
    ...(opts.cidr !== null ? [`addr replace ${opts.cidr} dev ${ifName}`] : []),
    ...(v6 !== undefined ? [`addr replace ${v6.cidr} dev ${ifName} nodad`] : []),
    `link set ${ifName} up`,
  ];
  if (opts.gateway !== null) lines.push(`route add default via ${opts.gateway} dev ${ifName}`);
  try {
    await runInNetns(nsPath, ['ip', '-batch', '-'], lines.join('\n') + '\n');
  } catch (e) {
    // without -force, ip stops at the first failure: "File exists" on the last line means every
    // other command succeeded and a default route was already there
    const stderr = e instanceof CommandError ? e.stderr : '';
    const routeExists = opts.gateway !== null && /File exists/.test(stderr) && stderr.includes(`Command failed -:${lines.length}`);
    if (!routeExists) throw new Error(`cannot configure ${ifName} in ${nsPath}: ${describeBatchFailure(e, lines)}`);
  }
  if (v6?.gateway != null) await addDefaultRouteIfNone(nsPath, ifName, ['-6', 'route', 'add', 'default', 'via', v6.gateway, 'dev', ifName]);
}

/** `ip ARGS` adding a default route; one that is there already (another network's, or ours before a restart) stays. */
async function addDefaultRouteIfNone(nsPath: string, ifName: string, args: string[]): Promise<void> {
  try {
    await runInNetns(nsPath, ['ip', ...args]);
  } catch (e) {
    if (e instanceof CommandError && /File exists/.test(e.stderr)) return;
    throw new Error(`cannot configure ${ifName} in ${nsPath}: ${(e as Error).message}`);
  }
}

/** The failing command of an `ip -batch` run and ip's complaint about it. */
function describeBatchFailure(e: unknown, lines: string[]): string {
  const stderr = e instanceof CommandError ? e.stderr : '';
  const m = /Command failed -:([0-9]+)/.exec(stderr);
  const complaint = firstLine(stderr);
  if (m !== null && complaint !== '') return `ip ${lines[Number(m[1]) - 1] ?? '?'}: ${complaint}`;
  return (e as Error).message;
}

/** Interface names inside the namespace (`ip -j link`). */
export async function interfaceNames(nsPath: string): Promise<string[]> {
  const out = await runInNetns(nsPath, ['ip', '-j', 'link', 'show']);
  const links = JSON.parse(out) as { ifname: string }[];
  return links.map((l) => l.ifname);
}

/** The interface with this MAC inside the namespace (`ip -j link`), or null. */
export async function interfaceWithMac(nsPath: string, mac: string): Promise<string | null> {
  const out = await runInNetns(nsPath, ['ip', '-j', 'link', 'show']);
  const links = JSON.parse(out) as { ifname: string; address?: string }[];
  const want = mac.toLowerCase();
  return links.find((l) => l.address?.toLowerCase() === want)?.ifname ?? null;
}

/** The lowest ethN not present in the namespace. */
export async function nextInterfaceName(nsPath: string): Promise<string> {
  const taken = new Set(await interfaceNames(nsPath));
  for (let i = 0; ; i++) {
    if (!taken.has(`eth${i}`)) return `eth${i}`;
  }
}

/** Deletes a link inside the namespace; a link that is already gone is fine. */
export async function deleteLink(nsPath: string, ifName: string): Promise<void> {
  try {
    await runInNetns(nsPath, ['ip', 'link', 'del', 'dev', ifName]);
  } catch (e) {
    if (e instanceof CommandError && /Cannot find device|does not exist|No such device/.test(e.stderr)) return;
    throw e;
  }
}
