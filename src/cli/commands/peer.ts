// `pontoon peer add|rm|ls`: foreign VTEPs (a Linux VXLAN device, another vendor's VTEP) of an
// overlay network and the addresses behind them.

import { type Command, InvalidArgumentError, Option } from 'commander';
import type { PeerAddRequest, PeerAddress, PeerResource } from '../../control/api-types.js';
import type { CliContext } from '../context.js';
import { formatTable } from '../format.js';

const enc = encodeURIComponent;

/** `--ip ADDR` or `--ip ADDR=MAC`, repeatable. */
function collectAddress(value: string, previous: PeerAddress[] | undefined): PeerAddress[] {
  const eq = value.indexOf('=');
  const ip = eq < 0 ? value : value.slice(0, eq);
  const mac = eq < 0 ? undefined : value.slice(eq + 1);
  if (ip === '' || mac === '') throw new InvalidArgumentError('Expected ADDR or ADDR=MAC.');
  return [...(previous ?? []), mac === undefined ? { ip } : { ip, mac }];
}

/** "10.0.9.200=02:42:0a:00:09:c8, 10.0.9.201" */
function addressesText(p: PeerResource): string {
  if (p.Addresses.length === 0) return '-';
  return p.Addresses.map((a) => (a.MacAddress === '' ? a.IP : `${a.IP}=${a.MacAddress}`)).join(', ');
}

export function formatPeers(peers: PeerResource[]): string {
  return formatTable(
    ['NETWORK', 'VTEP', 'ADDRESSES'],
    peers.map((p) => [p.Network, p.VTEP, addressesText(p)]),
  );
}

export function peerCommand(ctx: CliContext, parent: Command): Command {
  const peer = parent.command('peer').description('Manage foreign VTEPs of overlay networks (a Linux VXLAN device, another vendor\'s VTEP)');

  peer
    .command('add')
    .description('Register a foreign VTEP and the addresses behind it on an overlay network')
    .argument('<network>', 'overlay network')
    .argument('<vtep>', "the VTEP's underlay address (IPv4, or IPv6 on an IPv6 underlay)")
    .option(
      '--ip <addr[=mac]>',
      'an address behind the VTEP, claimed on the network (repeatable); with =MAC, ARP for it is answered here, else its MAC is learned from its frames',
      collectAddress,
    )
    .action(async (network: string, vtep: string, o: { ip?: PeerAddress[] }, cmd: Command) => {
      const req: PeerAddRequest = { vtep, addresses: o.ip ?? [] };
      const p = await ctx.client(cmd).request<PeerResource>('POST', `/v1/networks/${enc(network)}/peers`, req);
      ctx.io.out(`${p.VTEP}\n`);
    });

  peer
    .command('rm')
    .alias('remove')
    .description('Remove foreign VTEPs from an overlay network (their addresses are released)')
    .argument('<network>', 'overlay network')
    .argument('<vtep...>', "the VTEPs' underlay addresses")
    .action(async (network: string, vteps: string[], _o: unknown, cmd: Command) => {
      for (const vtep of vteps) {
        await ctx.client(cmd).request('DELETE', `/v1/networks/${enc(network)}/peers/${enc(vtep)}`);
        ctx.io.out(`${vtep}\n`);
      }
    });

  peer
    .command('ls')
    .alias('list')
    .description('List the foreign VTEPs of an overlay network (of every one without NETWORK)')
    .argument('[network]', 'overlay network')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (network: string | undefined, o: { format: string }, cmd: Command) => {
      const path = network === undefined ? '/v1/peers' : `/v1/networks/${enc(network)}/peers`;
      const peers = await ctx.client(cmd).request<PeerResource[]>('GET', path);
      ctx.io.out(o.format === 'json' ? peers.map((p) => JSON.stringify(p) + '\n').join('') : formatPeers(peers));
    });
  return peer;
}
