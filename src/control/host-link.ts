// The host's side of the gateway: the TUN device's address and MTU, and the routes to the
// networks' subnets through it. Everything goes through `ip` (no shell).

import { CommandError, runCommand } from './netns.js';

/** Sets the MTU and the address (e.g. "10.254.0.1/30") of a host device and brings it up. */
export async function configureHostDevice(dev: string, cidr: string, mtu: number): Promise<void> {
  const lines = [`link set dev ${dev} mtu ${mtu}`, `addr replace ${cidr} dev ${dev}`, `link set dev ${dev} up`];
  await runCommand('ip', ['-batch', '-'], lines.join('\n') + '\n');
}

/**
 * Gives a host device its IPv6 address ("fd..:ffff::1/64") without duplicate address detection
 * (the other end is the gateway, which never claims it). Refused with the kernel's reason when
 * IPv6 is off on the device or the host (`disable_ipv6`, `ipv6.disable=1`).
 */
export async function configureHostDevice6(dev: string, cidr6: string): Promise<void> {
  await runCommand('ip', ['-6', 'addr', 'replace', cidr6, 'dev', dev, 'nodad']);
}

/**
 * Routes `cidr` (either family) through `dev` (`ip route replace`, so re-adding is harmless);
 * with `src` (IPv4), that address is the device's too (a /32) and the route's source: a routed
 * overlay's host address, so the host's packets to the cluster carry an address the cluster routes back.
 */
export async function addHostRoute(cidr: string, dev: string, src?: string): Promise<void> {
  if (src === undefined) {
    await runCommand('ip', ['route', 'replace', cidr, 'dev', dev]);
    return;
  }
  const lines = [`addr replace ${src}/32 dev ${dev}`, `route replace ${cidr} dev ${dev} src ${src}`];
  await runCommand('ip', ['-batch', '-'], lines.join('\n') + '\n');
}

/** Removes the route to `cidr` through `dev` (and the device's address `src`); a route, address or device already gone is fine. */
export async function deleteHostRoute(cidr: string, dev: string, src?: string): Promise<void> {
  const gone = (e: unknown) => e instanceof CommandError && /No such process|Cannot find device|No such device|Cannot assign requested address/.test(e.stderr);
  try {
    await runCommand('ip', ['route', 'del', cidr, 'dev', dev]);
  } catch (e) {
    if (!gone(e)) throw e;
  }
  if (src === undefined) return;
  try {
    await runCommand('ip', ['addr', 'del', `${src}/32`, 'dev', dev]);
  } catch (e) {
    if (!gone(e)) throw e;
  }
}
