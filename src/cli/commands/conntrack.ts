// `pontoon conntrack ls|flush`, printing like `conntrack -L` / `conntrack -F`.

import { type Command, Option } from 'commander';
import type { ConntrackEntryResource } from '../../control/api-types.js';
import type { CliContext } from '../context.js';

/** One line in conntrack -L's format; an IPv6 entry starts with its layer 3 ("ipv6     10"), as conntrack's extended output. */
export function formatConntrackEntry(c: ConntrackEntryResource): string {
  const t = (x: ConntrackEntryResource['orig']): string =>
    c.proto === 'icmp' || c.proto === 'icmpv6'
      ? `src=${x.src} dst=${x.dst} id=${x.sport}`
      : `src=${x.src} dst=${x.dst} sport=${x.sport} dport=${x.dport}`;
  const parts = [c.proto.padEnd(8), String(c.protoNumber), String(c.timeoutSeconds)];
  if (c.family === 'ipv6') parts.unshift('ipv6'.padEnd(8), '10'); // AF_INET6
  if (c.state !== '') parts.push(c.state);
  parts.push(t(c.orig), `packets=${c.packets[0]} bytes=${c.bytes[0]}`);
  if (c.flags.includes('UNREPLIED')) parts.push('[UNREPLIED]');
  parts.push(t(c.reply), `packets=${c.packets[1]} bytes=${c.bytes[1]}`);
  if (c.flags.includes('ASSURED')) parts.push('[ASSURED]');
  return parts.join(' ');
}

export function conntrackCommand(ctx: CliContext, parent: Command): Command {
  const ct = parent.command('conntrack').description('Show or flush the connection-tracking table');
  ct.command('ls')
    .alias('list')
    .description('List tracked connections (like conntrack -L)')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (o: { format: string }, cmd: Command) => {
      const list = await ctx.client(cmd).request<ConntrackEntryResource[]>('GET', '/v1/conntrack');
      if (o.format === 'json') {
        ctx.io.out(JSON.stringify(list) + '\n');
        return;
      }
      for (const c of list) ctx.io.out(formatConntrackEntry(c) + '\n');
      ctx.io.err(`pontoon conntrack: ${list.length} flow entries have been shown.\n`);
    });
  ct.command('flush')
    .description('Remove every tracked connection (like conntrack -F)')
    .action(async (_o: unknown, cmd: Command) => {
      const r = await ctx.client(cmd).request<{ flushed: number }>('DELETE', '/v1/conntrack');
      ctx.io.out(`${r.flushed} flow entries have been deleted.\n`);
    });
  return ct;
}
