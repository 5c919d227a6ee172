// `pontoon cni conflist NETWORK`: the .conflist that puts a runtime's containers (Podman,
// containerd, Kubernetes) on a pontoon network through the pontoon-cni plugin.

import { resolve } from 'node:path';
import { Command } from 'commander';
import type { NetworkResource } from '../../control/api-types.js';
import type { CliContext } from '../context.js';

/**
 * The configuration list for /etc/cni/net.d, cniVersion 1.0.0, with the capabilities pontoon-cni
 * honours; a macvlan network's has no portMappings: its containers are on the LAN at their own
 * addresses, there is no port to publish (a runtime passes runtimeConfig only for the capabilities declared).
 */
export function conflist(name: string, network: string, socket: string, macvlan = false): object {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      {
        type: 'pontoon-cni',
        network,
        socket,
        capabilities: { ...(macvlan ? {} : { portMappings: true }), ips: true, aliases: true },
      },
    ],
  };
}

export function cniCommand(ctx: CliContext, program: Command): void {
  const cni = program.command('cni').description('Put containers of CNI runtimes (Podman, containerd, Kubernetes) on pontoon networks');
  cni
    .command('conflist')
    .description('Print a .conflist for /etc/cni/net.d that attaches containers to a pontoon network')
    .argument('<network>', 'network name or id')
    .option('--name <name>', 'the network\'s name for the runtime (default: the pontoon network\'s name)')
    .action(async (network: string, o: { name?: string }, cmd: Command) => {
      const net = await ctx.client(cmd).request<NetworkResource>('GET', `/v1/networks/${encodeURIComponent(network)}`);
      // the plugin runs in the runtime's working directory: the socket's path must be absolute
      const socket = resolve((cmd.optsWithGlobals() as { socket: string }).socket);
      ctx.io.out(JSON.stringify(conflist(o.name ?? net.Name, net.Name, socket, net.Driver === 'macvlan'), null, 2) + '\n');
    });
}
