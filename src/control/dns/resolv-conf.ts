// resolv.conf files: the containers' (`ip netns exec NAME` bind-mounts /etc/netns/NAME/resolv.conf
// over /etc/resolv.conf) pointing at the embedded DNS, and the host's, whose nameservers (IPv4 and
// IPv6) are the default upstreams. As Docker's (libnetwork's TransformForIntNS) with its internal
// resolver: a container's file names only the embedded DNS, whatever the families of its networks;
// the host's IPv6 nameservers are reached by the embedded DNS from the host, not listed there.

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isIPv6 } from 'node:net';
import { parseIpv4OrNull } from '../../wire/ipv4-address.js';
import { ipv6ToString, isLinkLocalIpv6, isMulticastIpv6, isUnspecifiedIpv6, parseIpv6OrNull } from '../../wire/ipv6-address.js';
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

/** Linux takes a zone (an interface) on a link-local address in every socket call; elsewhere, untried. */
const ZONES_SUPPORTED = process.platform === 'linux';

/** An interface name as Linux allows one (dev_valid_name: 1-15 bytes, no '/', ':' or blank), or an index. */
const ZONE_RE = /^[^/:\s%]{1,15}$/;

/**
 * "2001:db8::53" or "fe80::1%eth0" → the address in RFC 5952 text (the zone kept), or the reason
 * it cannot be an upstream's.
 */
function ipv6UpstreamAddress(s: string): string | { problem: string } {
  const pct = s.indexOf('%');
  const addr = pct < 0 ? s : s.slice(0, pct);
  const zone = pct < 0 ? null : s.slice(pct + 1);
  const w = parseIpv6OrNull(addr);
  if (w === null) return { problem: 'is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port' };
  if (isUnspecifiedIpv6(w) || isMulticastIpv6(w)) return { problem: 'cannot be a DNS server' };
  const text = ipv6ToString(w);
  if (zone === null) {
    if (isLinkLocalIpv6(w)) return { problem: 'is link-local: name its interface, as in fe80::1%eth0' };
    return text;
  }
  if (!isLinkLocalIpv6(w)) return { problem: 'has a zone, which only a link-local (fe80::/10) address takes' };
  if (!ZONE_RE.test(zone) || zone === '.' || zone === '..') return { problem: `has a zone that is not an interface name (${JSON.stringify(zone)})` };
  if (!ZONES_SUPPORTED) return { problem: `is link-local: zones (%${zone}) are not supported on ${process.platform}` };
  return `${text}%${zone}`;
}

/**
 * An upstream as config gives one: "1.2.3.4", "1.2.3.4:5353", "2001:db8::53", "[2001:db8::53]",
 * "[2001:db8::53]:5353", a link-local "fe80::1%eth0" or "[fe80::1%eth0]:53"; else the reason it
 * is none, to follow the string in a config error ('"x" is not …').
 */
export function parseUpstreamOrProblem(input: string): Upstream | { problem: string } {
  const s = input.trim();
  const NOT = { problem: 'is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port' };
  let host: string;
  let portText: string | undefined;
  const v4 = /^([0-9.]+)(?::([0-9]{1,5}))?$/.exec(s);
  const bracketed = /^\[([^\]]+)\](?::([0-9]{1,5}))?$/.exec(s);
  if (v4 !== null) {
    if (parseIpv4OrNull(v4[1]!) === null) return NOT;
    [host, portText] = [v4[1]!, v4[2]];
    if (host === '0.0.0.0' || host === '255.255.255.255') return { problem: 'cannot be a DNS server' };
  } else {
    const inner = bracketed !== null ? bracketed[1]! : s;
    portText = bracketed?.[2];
    if (!inner.includes(':')) return NOT; // "[1.2.3.4]", a host name
    const a = ipv6UpstreamAddress(inner);
    if (typeof a !== 'string') return a;
    host = a;
  }
  const port = portText === undefined ? 53 : Number(portText);
  if (port < 1 || port > 65535) return NOT;
  return { address: host, port };
}

/** An upstream as config gives one (see parseUpstreamOrProblem); null when it is none. */
export function parseUpstream(s: string): Upstream | null {
  const up = parseUpstreamOrProblem(s);
  return 'problem' in up ? null : up;
}

/** "192.0.2.53:53", "[2001:db8::53]:53": an upstream as logs and errors print it. */
export function formatUpstream(up: Upstream): string {
  return isIPv6(up.address) ? `[${up.address}]:${up.port}` : `${up.address}:${up.port}`;
}

/**
 * The nameservers of a resolv.conf text, in order: IPv4 and IPv6 addresses (a link-local one with
 * its zone, as glibc takes it), port 53; lines glibc would not take either (a port, a name) are skipped.
 */
export function resolvConfNameservers(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null || m[1]!.includes('[') || /^[0-9.]+:[0-9]+$/.test(m[1]!)) continue;
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
