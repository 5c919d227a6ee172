// The host's side of the gateway: the TUN device's address and MTU, and the routes to the
// networks' subnets through it. Everything goes through `ip` (no shell).

import { CommandError, runCommand } from './netns.js';

/** Sets the MTU and the address (e.g. "10.254.0.1/30") of a host device and brings it up. */
export async function configureHostDevice(dev: string, cidr: string, mtu: number): Promise<void> {
  const lines = [`link set dev ${dev} mtu ${mtu}`, `addr replace ${cidr} dev ${dev}`, `link set dev ${dev} up`];
  await runCommand('ip', ['-batch', '-'], lines.join('\n') + '\n');
}

/** Routes `cidr` through `dev` (`ip route replace`, so re-adding is harmless). */
export async function addHostRoute(cidr: string, dev: string): Promise<void> {
  await runCommand('ip', ['route', 'replace', cidr, 'dev', dev]);
}

/** Removes the route to `cidr` through `dev`; a route or device already gone is fine. */
export async function deleteHostRoute(cidr: string, dev: string): Promise<void> {
  try {
    await runCommand('ip', ['route', 'del', cidr, 'dev', dev]);
  } catch (e) {
    if (e instanceof CommandError && /No such process|Cannot find device|No such device/.test(e.stderr)) return;
    throw e;
  }
}
