// `pontoon service create|ls|inspect|rm`: a VIP whose new flows go to one ready backend (every
// endpoint of the network with an alias, or named containers), like a Kubernetes ClusterIP service
// or a Swarm service in endpoint_mode vip; `--publish` makes it a NodePort-like port of the uplink.

import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ServiceCreateRequest, ServiceResource } from '../../control/api-types.js';
import { CliExit, type CliContext } from '../context.js';
import { formatTable, shortId } from '../format.js';
import { inspectEach } from './inspect-each.js';

const enc = encodeURIComponent;

function portNumber(what: string): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new InvalidArgumentError(`Expected a ${what} 1-65535.`);
    return Number(value);
  };
}

function servicePort(value: string): string {
  const m = /^([0-9]{1,5})(?:\/(tcp|udp))?$/.exec(value);
  if (m === null || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new InvalidArgumentError('Expected PORT[/tcp|udp] with PORT 1-65535.');
  return value;
}

function affinity(value: string): string {
  if (!/^(none|client-ip(:[0-9]{1,6})?)$/.test(value)) throw new InvalidArgumentError('Expected none, client-ip or client-ip:SECONDS.');
  return value;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function formatServices(services: ServiceResource[]): string {
  return formatTable(
    ['SERVICE ID', 'NAME', 'NETWORK', 'VIP', 'PORTS', 'BACKENDS', 'SELECTOR'],
    services.map((s) => [
      shortId(s.Id),
      s.Name,
      s.Network,
      s.VIP,
      `${s.Port}/${s.Protocol}->${s.TargetPort}${s.Publish !== null ? `, *:${s.Publish}->${s.Port}` : ''}`,
      String(s.Backends.length),
      s.Selector ?? (s.Containers.length > 0 ? s.Containers.join(',') : '-'),
    ]),
  );
}

export function serviceCommand(ctx: CliContext, parent: Command): Command {
  const service = parent.command('service').description('Manage services: a VIP whose new flows go to one of its backends');

  service
    .command('create')
    .description('Create a service and print its VIP')
    .argument('<name>', 'service name (resolves to the VIP; tasks.NAME to every backend)')
    .requiredOption('--network <network>', 'the network of its clients and backends')
    .requiredOption('--port <port[/proto]>', 'the service port, 80 or 53/udp', servicePort)
    .option('--target-port <port>', "the backends' port (default: the service port)", portNumber('port'))
    .option('--vip <ip>', "the VIP: in services.cidr or in the network's subnet (default: the next free one of services.cidr)")
    .option('--selector <alias>', 'every endpoint of the network with this alias is a backend')
    .option('--backend <container>', 'a container of the network that is a backend (repeatable)', collect)
    .option('--affinity <affinity>', 'none, client-ip or client-ip:SECONDS (default timeout 10800 s)', affinity)
    .option('--publish <hostport>', "the uplink's port that reaches the service (NodePort-like)", portNumber('port'))
    .action(
      async (
        name: string,
        o: { network: string; port: string; targetPort?: number; vip?: string; selector?: string; backend?: string[]; affinity?: string; publish?: number },
        cmd: Command,
      ) => {
        if (o.selector !== undefined && o.backend !== undefined) {
          ctx.io.err('Error: give --selector or --backend, not both\n');
          throw new CliExit(2);
        }
        const req: ServiceCreateRequest = {
          name,
          network: o.network,
          port: o.port,
          ...(o.targetPort !== undefined ? { targetPort: o.targetPort } : {}),
          ...(o.vip !== undefined ? { vip: o.vip } : {}),
          ...(o.selector !== undefined ? { selector: o.selector } : {}),
          ...(o.backend !== undefined ? { backends: o.backend } : {}),
          ...(o.affinity !== undefined ? { affinity: o.affinity } : {}),
          ...(o.publish !== undefined ? { publish: o.publish } : {}),
        };
        const s = await ctx.client(cmd).request<ServiceResource>('POST', '/v1/services', req);
        ctx.io.out(`${s.VIP}\n`);
      },
    );

  service
    .command('ls')
    .alias('list')
    .description('List services')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only names')
    .action(async (o: { format: string; quiet?: boolean }, cmd: Command) => {
      const services = await ctx.client(cmd).request<ServiceResource[]>('GET', '/v1/services');
      if (o.quiet === true) ctx.io.out(services.map((s) => `${s.Name}\n`).join(''));
      else ctx.io.out(o.format === 'json' ? services.map((s) => JSON.stringify(s) + '\n').join('') : formatServices(services));
    });

  service
    .command('inspect')
    .description('Display detailed information on one or more services (with each backend and its counters)')
    .argument('<service...>', 'service names')
    .action((names: string[], _o: unknown, cmd: Command) => inspectEach(ctx, cmd, names, 'service', (name) => `/v1/services/${enc(name)}`));

  service
    .command('rm')
    .alias('remove')
    .description('Remove one or more services (their flows go with them)')
    .argument('<service...>', 'service names')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      for (const name of names) {
        await ctx.client(cmd).request('DELETE', `/v1/services/${enc(name)}`);
        ctx.io.out(`${name}\n`);
      }
    });
  return service;
}
