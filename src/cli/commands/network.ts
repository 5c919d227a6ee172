// `pontoon network create|ls|inspect|rm|connect|disconnect`, printing like `docker network`.

import { resolve as resolvePath } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { ConnectRequest, ContainerLink, NetworkCreateRequest, NetworkResource, NetworkSummary, PortMappingResource } from '../../control/api-types.js';
import { parseLink } from '../../control/container-links.js';
import { ApiRequestError } from '../api-client.js';
import { CliExit, type CliContext } from '../context.js';
import { formatInspect, formatTable, shortId } from '../format.js';
import { inspectEach } from './inspect-each.js';

const MTU_OPTION = 'com.docker.network.driver.mtu';
const IPV6_NAT_OPTION = 'pontoon.ipv6.nat';
const PARENT_OPTION = 'parent';
const MACVLAN_MODE_OPTION = 'macvlan_mode';
const HOST_ACCESS_OPTION = 'pontoon.host_access';
const FLANNEL_PREFIX_OPTION = 'pontoon.flannel_prefix';
const DRIVER_OPTIONS = [MTU_OPTION, IPV6_NAT_OPTION, PARENT_OPTION, MACVLAN_MODE_OPTION, HOST_ACCESS_OPTION, FLANNEL_PREFIX_OPTION];

type DriverOptions = Pick<NetworkCreateRequest, 'mtu' | 'ipv6Nat' | 'parent' | 'macvlanMode' | 'hostAccess' | 'flannelPrefix'>;

function parseBool(key: string, value: string): boolean {
  if (value !== 'true' && value !== 'false') throw new Error(`invalid value ${JSON.stringify(value)} for ${key}: true or false`);
  return value === 'true';
}

const enc = encodeURIComponent;

function parseMtu(value: string): number {
  if (!/^[0-9]+$/.test(value)) throw new InvalidArgumentError('Expected a number.');
  return Number(value);
}

/** Repeatable options; no default value so help does not show "(default: [])". */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Repeated --link CONTAINER[:ALIAS], each checked as Docker's CLI does before anything is sent. */
function collectLink(value: string, previous: ContainerLink[] | undefined): ContainerLink[] {
  try {
    return [...(previous ?? []), parseLink(value)];
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
}

/** A netns path relative to the CLI's directory means nothing to the daemon: make it absolute. */
function netnsArg(arg: string): string {
  return arg.includes('/') && !arg.startsWith('/') ? resolvePath(arg) : arg;
}

/**
 * The MTU from --mtu and -o com.docker.network.driver.mtu=N (which must agree), -o
 * pontoon.ipv6.nat=true|false, and a macvlan network's -o parent=, -o macvlan_mode=, -o pontoon.host_access=.
 */
function driverOptions(mtu: number | undefined, opts: string[]): DriverOptions {
  let result = mtu;
  const out: DriverOptions = {};
  for (const opt of opts) {
    const eq = opt.indexOf('=');
    const key = eq < 0 ? opt : opt.slice(0, eq);
    const value = eq < 0 ? '' : opt.slice(eq + 1);
    if (key === IPV6_NAT_OPTION) out.ipv6Nat = parseBool(key, value);
    else if (key === HOST_ACCESS_OPTION) out.hostAccess = parseBool(key, value);
    else if (key === PARENT_OPTION) out.parent = value;
    else if (key === MACVLAN_MODE_OPTION) out.macvlanMode = value;
    else if (key === FLANNEL_PREFIX_OPTION) out.flannelPrefix = value;
    else if (key === MTU_OPTION) {
      if (!/^[0-9]+$/.test(value)) throw new Error(`invalid value ${JSON.stringify(value)} for ${MTU_OPTION}: not a number`);
      const n = Number(value);
      if (result !== undefined && result !== n) throw new Error(`conflicting MTUs: --mtu ${result} and ${MTU_OPTION}=${n}`);
      result = n;
    } else {
      throw new Error(`driver option ${JSON.stringify(key)} is not supported (supported: ${DRIVER_OPTIONS.join(', ')})`);
    }
  }
  if (result !== undefined) out.mtu = result;
  return out;
}

/** --aux-address NAME=IP, repeatable: one map. */
function auxAddresses(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new Error(`invalid --aux-address ${JSON.stringify(v)}: NAME=IP`);
    const name = v.slice(0, eq);
    if (name in out) throw new Error(`--aux-address ${name} is given twice`);
    out[name] = v.slice(eq + 1);
  }
  return out;
}

/** One value in the single-subnet field (what older daemons read), several in the list. */
function oneOrMany(req: NetworkCreateRequest, one: 'subnet' | 'gateway' | 'ipRange', many: 'subnets' | 'gateways' | 'ipRanges', values: string[] | undefined): void {
  if (values === undefined || values.length === 0) return;
  if (values.length === 1) req[one] = values[0]!;
  else req[many] = values;
}

export function networkCommand(ctx: CliContext, parent: Command): Command {
  const network = parent.command('network').description('Manage networks');

  network
    .command('create')
    .description('Create a network')
    .argument('<name>', 'network name')
    .option('-d, --driver <driver>', 'driver to manage the network', 'bridge')
    .option('--subnet <cidr>', 'subnet in CIDR format, e.g. 172.18.0.0/16 or fd00:18::/64 (repeatable: one per family)', collect)
    .option('--gateway <ip>', 'gateway of the subnet of its family (repeatable)', collect)
    .option('--ip-range <cidr>', 'allocate container addresses from a sub-range of the subnet of its family (repeatable)', collect)
    .option('--ipv6', 'enable IPv6 (an IPv6 --subnet, or a ULA /64 from the default pool)')
    .option('--internal', 'restrict external access to the network')
    .option('--mtu <bytes>', 'MTU of the network', parseMtu)
    .option('--aux-address <name=ip>', 'an address of the subnet the IPAM never gives out (repeatable)', collect)
    .option(
      '-o, --opt <key=value>',
      `driver options (${MTU_OPTION}=N, ${IPV6_NAT_OPTION}=true|false; macvlan: ${PARENT_OPTION}=DEV[.VLAN], ${MACVLAN_MODE_OPTION}=bridge|private|vepa|passthru, ${HOST_ACCESS_OPTION}=true|false; routed overlay: ${FLANNEL_PREFIX_OPTION}=/KEY/PREFIX)`,
      collect,
    )
    .option('--vni <n>', 'overlay networks: the VXLAN network identifier (1-16777215; chosen when absent, 1 for a routed one)', parseMtu)
    .addOption(new Option('--mode <mode>', 'overlay networks: l2 (one segment across hosts) or routed (a subnet per host, routed between hosts)').choices(['l2', 'routed']))
    .option('--host-subnet-size <n>', 'routed overlays: the prefix length of each host\'s subnet (default 24)', parseMtu)
    .action(async (name: string, o: Record<string, unknown>, cmd: Command) => {
      const req: NetworkCreateRequest = { name, driver: o['driver'] as string };
      if (o['vni'] !== undefined) req.vni = o['vni'] as number;
      if (o['mode'] !== undefined) req.mode = o['mode'] as string;
      if (o['hostSubnetSize'] !== undefined) req.hostSubnetSize = o['hostSubnetSize'] as number;
      oneOrMany(req, 'subnet', 'subnets', o['subnet'] as string[] | undefined);
      oneOrMany(req, 'gateway', 'gateways', o['gateway'] as string[] | undefined);
      oneOrMany(req, 'ipRange', 'ipRanges', o['ipRange'] as string[] | undefined);
      if (o['ipv6'] === true) req.ipv6 = true;
      if (o['internal'] === true) req.internal = true;
      Object.assign(req, driverOptions(o['mtu'] as number | undefined, (o['opt'] as string[] | undefined) ?? []));
      const aux = o['auxAddress'] as string[] | undefined;
      if (aux !== undefined) req.auxAddresses = auxAddresses(aux);
      const created = await ctx.client(cmd).request<NetworkResource>('POST', '/v1/networks', req);
      ctx.io.out(`${created.Id}\n`);
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-q, --quiet', 'only display network IDs')
    .option('--no-trunc', 'do not truncate the output')
    .action(async (o: { format: string; quiet?: boolean; trunc: boolean }, cmd: Command) => {
      const list = await ctx.client(cmd).request<NetworkSummary[]>('GET', '/v1/networks');
      const nets = [...list].sort((a, b) => (a.Name < b.Name ? -1 : a.Name > b.Name ? 1 : 0));
      const id = (n: NetworkSummary) => (o.trunc ? shortId(n.Id) : n.Id);
      if (o.quiet === true) {
        ctx.io.out(nets.map((n) => `${id(n)}\n`).join(''));
      } else if (o.format === 'json') {
        ctx.io.out(
          nets
            .map(
              (n) =>
                JSON.stringify({
                  ID: id(n),
                  Name: n.Name,
                  Driver: n.Driver,
                  Scope: n.Scope,
                  Subnet: n.Subnet,
                  Gateway: n.Gateway,
                  IPv6: n.IPv6,
                  Internal: n.Internal,
                  Endpoints: n.Endpoints,
                }) + '\n',
            )
            .join(''),
        );
      } else {
        ctx.io.out(formatTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], nets.map((n) => [id(n), n.Name, n.Driver, n.Scope])));
      }
    });

  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>', 'network names or ids')
    .action((names: string[], _o: unknown, cmd: Command) => inspectEach(ctx, cmd, names, 'network', (name) => `/v1/networks/${enc(name)}`));

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks')
    .argument('<network...>', 'network names or ids')
    .action(async (names: string[], _o: unknown, cmd: Command) => {
      const client = ctx.client(cmd);
      let failed = false;
      for (const name of names) {
        try {
          await client.request<void>('DELETE', `/v1/networks/${enc(name)}`);
          ctx.io.out(`${name}\n`);
        } catch (e) {
          if (!(e instanceof ApiRequestError)) throw e;
          ctx.io.err(`Error: ${e.message}\n`);
          failed = true;
        }
      }
      if (failed) throw new CliExit(1);
    });

  network
    .command('connect')
    .description('Connect a network namespace to a network')
    .argument('<network>', 'network name or id')
    .argument('<netns>', 'an "ip netns" name, a namespace path such as /proc/PID/ns/net, or a PID')
    .option('--ip <address>', 'IPv4 address of the endpoint')
    .option('--ip6 <address>', 'IPv6 address of the endpoint (a network with IPv6)')
    .option('--alias <name>', 'add a network-scoped alias (repeatable)', collect)
    .option('--name <name>', 'container name shown by inspect (default: the netns name)')
    .option('--link <container[:alias]>', 'add a link to another container on the network, resolved by this container alone (repeatable)', collectLink)
    .option('-p, --publish <spec>', 'publish a port: [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (repeatable, ranges allowed)', collect)
    .action(async (net: string, netns: string, o: { ip?: string; ip6?: string; alias?: string[]; link?: ContainerLink[]; name?: string; publish?: string[] }, cmd: Command) => {
      const req: ConnectRequest = { netns: netnsArg(netns) };
      if (o.publish !== undefined) req.publish = o.publish;
      if (o.link !== undefined) req.links = o.link;
      if (o.ip !== undefined) req.ip = o.ip;
      if (o.ip6 !== undefined) req.ip6 = o.ip6;
      if (o.alias !== undefined) req.aliases = o.alias;
      if (o.name !== undefined) req.name = o.name;
      await ctx.client(cmd).request('POST', `/v1/networks/${enc(net)}/connect`, req);
    });

  network
    .command('disconnect')
    .description('Disconnect a network namespace from a network')
    .argument('<network>', 'network name or id')
    .argument('<netns>', 'an "ip netns" name, a namespace path, or a PID')
    .action(async (net: string, netns: string, _o: unknown, cmd: Command) => {
      await ctx.client(cmd).request('POST', `/v1/networks/${enc(net)}/disconnect`, { netns: netnsArg(netns) });
    });

  return network;
}

/**
 * `pontoon port NETNS`: the published ports of a namespace, as `docker port` prints them, then the
 * mappings the container asked for itself, marked `(nat-pmp|pcp|pcp-peer, <seconds>s left)`.
 */
export function portCommand(ctx: CliContext, parent: Command): Command {
  return parent
    .command('port')
    .description('List the published ports of a network namespace and its NAT-PMP/PCP mappings')
    .argument('<netns>', 'an "ip netns" name, a namespace path, or a PID')
    .argument('[private_port]', 'only this container port, e.g. 80 or 80/udp')
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (netns: string, privatePort: string | undefined, o: { format: string }, cmd: Command) => {
      const all = await ctx.client(cmd).request<PortMappingResource[]>('GET', `/v1/ports/${enc(netnsArg(netns))}`);
      let list = all;
      if (privatePort !== undefined) {
        const [port, proto = 'tcp'] = privatePort.split('/');
        list = all.filter((m) => String(m.containerPort) === port && m.proto === proto);
        if (list.length === 0) throw new Error(`no public port '${privatePort}' published for ${netns}`);
      }
      if (o.format === 'json') ctx.io.out(JSON.stringify(list) + '\n');
      else for (const m of list) ctx.io.out(`${m.containerPort}/${m.proto} -> ${m.hostIp}:${m.hostPort}${m.source === undefined ? '' : ` (${m.source}, ${m.lifetimeSeconds ?? 0}s left)`}\n`);
    });
}
