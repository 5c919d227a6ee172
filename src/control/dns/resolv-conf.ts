// resolv.conf files: the containers' (`ip netns exec NAME` bind-mounts /etc/netns/NAME/resolv.conf
// over /etc/resolv.conf) pointing at the embedded DNS, and the host's, whose nameservers are the
// default upstreams.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseIpv4OrNull } from '../../wire/ipv4-address.js';
import { NETNS_RUN_DIR } from '../netns.js';
import type { Upstream } from './upstream.js';

/** Where `ip netns exec` looks for per-namespace files. */
export const NETNS_ETC_DIR = '/etc/netns';

/** First line of every resolv.conf pontoon writes: only such a file is ever replaced or removed. */
export const RESOLV_CONF_MARKER = '# written by pontoon: the embedded DNS of the container\'s first network';

/** The file's text for a container whose resolver is `nameserver`. */
export function containerResolvConf(nameserver: string): string {
  // ndots:0: every name is tried as given first, so container names need no search domain
  return `${RESOLV_CONF_MARKER}\nnameserver ${nameserver}\noptions ndots:0\n`;
}

/** "/run/netns/c1" → "c1"; null for namespaces without an `ip netns` name (a PID's, another path). */
export function netnsNameOf(netnsPath: string): string | null {
  const prefix = `${NETNS_RUN_DIR}/`;
  if (!netnsPath.startsWith(prefix)) return null;
  const name = netnsPath.slice(prefix.length);
  return /^[a-zA-Z0-9_.-]+$/.test(name) && name !== '.' && name !== '..' ? name : null;
}

function resolvConfPath(netnsName: string, etcDir: string): string {
  if (!/^[a-zA-Z0-9_.-]+$/.test(netnsName) || netnsName === '.' || netnsName === '..') {
    throw new Error(`invalid network namespace name ${JSON.stringify(netnsName)}`);
  }
  return join(etcDir, netnsName, 'resolv.conf');
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Writes /etc/netns/NAME/resolv.conf atomically (temporary file, fsync, rename), creating the
 * directory. Returns 'foreign' and leaves the file alone when one exists that pontoon did not write.
 */
export function writeContainerResolvConf(netnsName: string, nameserver: string, etcDir = NETNS_ETC_DIR): 'written' | 'unchanged' | 'foreign' {
  const path = resolvConfPath(netnsName, etcDir);
  const text = containerResolvConf(nameserver);
  const existing = readOrNull(path);
  if (existing !== null && !existing.startsWith(RESOLV_CONF_MARKER)) return 'foreign';
  if (existing === text) return 'unchanged';
  mkdirSync(join(etcDir, netnsName), { recursive: true, mode: 0o755 });
  const tmp = `${path}.pontoon-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean up
    }
    throw e;
  }
  return 'written';
}

/**
 * Removes the file if pontoon wrote it, and the NAME directory if that leaves it empty. Returns
 * whether a file was removed.
 */
export function removeContainerResolvConf(netnsName: string, etcDir = NETNS_ETC_DIR): boolean {
  const path = resolvConfPath(netnsName, etcDir);
  const existing = readOrNull(path);
  if (existing === null || !existing.startsWith(RESOLV_CONF_MARKER)) return false;
  unlinkSync(path);
  try {
    rmdirSync(join(etcDir, netnsName)); // only when empty: other files there are someone else's
  } catch {
    // not empty, or gone
  }
  return true;
}

/** "1.2.3.4" or "1.2.3.4:5353" → an upstream; null when it is neither. */
export function parseUpstream(s: string): Upstream | null {
  const m = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(s.trim());
  if (m === null || parseIpv4OrNull(m[1]!) === null) return null;
  const port = m[2] === undefined ? 53 : Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { address: m[1]!, port };
}

/** The IPv4 nameservers of a resolv.conf text, in order (IPv6 ones are skipped). */
export function resolvConfNameservers(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null) continue;
    const up = parseUpstream(m[1]!);
    if (up !== null) out.push(up);
  }
  return out;
}

/** The host's nameservers (/etc/resolv.conf), or none when it cannot be read. */
export function hostNameservers(path = '/etc/resolv.conf'): Upstream[] {
  try {
    return resolvConfNameservers(readFileSync(path, 'utf8'));
  } catch {
    return [];
  }
}
