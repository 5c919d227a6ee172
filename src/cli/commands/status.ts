// `pontoon status`: what the daemon is doing, for people (tables) and scripts (--format json).

import { Command, Option } from 'commander';
import type { StatusReport } from '../../control/api-types.js';
import type { CliContext } from '../context.js';
import { formatDuration, formatTable } from '../format.js';

/** The human form of a status report. */
export function formatStatus(s: StatusReport): string {
  let out = '';
  out += `Version: ${s.version}\n`;
  out += `Uptime: ${formatDuration(s.uptimeSeconds)}\n`;
  out += `Networks: ${s.networks}\n`;
  out += `Endpoints: ${s.endpoints}\n`;
  const io = s.io;
  out += `I/O: ${io.backend}${io.fallbackReason !== '' ? ` (${io.fallbackReason})` : ''}, busy poll ${io.busyPollUs > 0 ? `${io.busyPollUs} us` : 'off'}\n`;
  const u = io.underlay;
  if (u !== null) {
    const gso = u.gso ? 'on' : u.gsoRefused !== '' ? `off (${u.gsoRefused})` : 'off';
    out += `Underlay: UDP/${u.family}, UDP GSO ${gso}, UDP GRO ${u.gro ? 'on' : 'off'}, socket buffers ${u.receiveBuffer} B receive / ${u.sendBuffer} B send\n`;
  }

  const section = (title: string, headers: string[], rows: string[][]) => {
    out += rows.length === 0 ? `\n${title}: none\n` : `\n${title}:\n${formatTable(headers, rows)}`;
  };
  section(
    'Ports',
    ['ID', 'NAME', 'KIND', 'NETWORK', 'RX-PKTS', 'RX-BYTES', 'TX-PKTS', 'TX-BYTES'],
    s.ports.map((p) => [
      String(p.id),
      p.name,
      p.kind,
      p.network ?? '-',
      String(p.rxPackets),
      String(p.rxBytes),
      String(p.txPackets),
      String(p.txBytes),
    ]),
  );
  const drops = Object.entries(s.drops)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  section('Drops', ['REASON', 'PACKETS'], drops.map(([reason, n]) => [reason, String(n)]));
  section(
    'Neighbours',
    ['NETWORK', 'IP', 'MAC', 'STATE', 'AGE'],
    s.neighbours.map((n) => [n.network, n.ip, n.mac ?? '-', n.state, `${Math.floor(n.ageSeconds)}s`]),
  );
  if (s.parents !== undefined && s.parents.length > 0) {
    section(
      'macvlan parents',
      ['DEVICE', 'STATE', 'NETWORKS', 'LOST'],
      s.parents.map((p) => [p.device, p.attached ? 'attached' : 'detached', p.networks.join(','), String(p.lost)]),
    );
  }
  section(
    'Forwarding database',
    ['NETWORK', 'MAC', 'PORT', 'AGE'],
    s.fdb.map((f) => [f.network, f.mac, String(f.port), `${Math.floor(f.ageSeconds)}s`]),
  );
  return out;
}

export function statusCommand(ctx: CliContext, parent: Command): Command {
  return parent
    .command('status')
    .description('Show the daemon status: ports, drops, neighbours, forwarding database')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (o: { format: string }, cmd: Command) => {
      const report = await ctx.client(cmd).request<StatusReport>('GET', '/v1/status');
      ctx.io.out(o.format === 'json' ? JSON.stringify(report) + '\n' : formatStatus(report));
    });
}
