// ADD, DEL, CHECK and VERSION: the runtime's call (environment + network configuration) turned
// into calls of the pontoon daemon's API, and its answer into the CNI result or error.

import type { ApiClientLike } from '../cli/api-client.js';
import { ApiRequestError } from '../cli/api-client.js';
import type { ConnectRequest, DisconnectRequest, EndpointResource, NetworkResource } from '../control/api-types.js';
import { CniCode, CniError } from './cni-error.js';
import { type CniEnv, commandOf, parseCniEnv } from './cni-env.js';
import { addResult, chainedResult } from './cni-result.js';
import { NEWEST_VERSION, SUPPORTED_VERSIONS, isSupportedVersion, knowsCheck } from './cni-version.js';
import { type NetConfig, type PortMappingRequest, parseNetConfig, versionOf } from './net-config.js';

/** What CHECK reads inside the container's namespace. */
export interface SandboxInterface {
  mac: string;
  /** "a.b.c.d/len" and "fd00::2/64" */
  addresses: string[];
}

export interface SandboxProbe {
  /** False when the namespace file is not there. */
  exists(netns: string): boolean;
  /** The interface inside the namespace, or null when it has none of that name. */
  inspect(netns: string, ifName: string): Promise<SandboxInterface | null>;
}

export interface PluginDeps {
  client(socket: string): ApiClientLike;
  sandbox: SandboxProbe;
}

export interface PluginOutcome {
  /** exactly what goes to stdout: the result, the VERSION answer, the error JSON, or nothing */
  stdout: string;
  exitCode: number;
}

const enc = encodeURIComponent;

/** The daemon's refusals as CNI errors; a daemon that cannot be reached is "try again later". */
async function daemonCall<T>(what: () => Promise<T>, notFound?: (message: string) => CniError): Promise<T> {
  try {
    return await what();
  } catch (e) {
    if (e instanceof ApiRequestError) {
      if (e.status === 404 && notFound !== undefined) throw notFound(e.message);
      throw new CniError(CniCode.daemonRefused, e.message);
    }
    throw new CniError(CniCode.tryAgainLater, (e as Error).message);
  }
}

/** The network, checked against the configuration's macvlan keys ("master", "mode") when it has them. */
async function inspectNetwork(client: ApiClientLike, conf: NetConfig): Promise<NetworkResource> {
  const net = await daemonCall(
    () => client.request<NetworkResource>('GET', `/v1/networks/${enc(conf.network)}`),
    (m) => new CniError(CniCode.unknownNetwork, m),
  );
  checkMacvlanKeys(conf, net);
  return net;
}

/**
 * A configuration written for the reference macvlan plugin keeps its "master" and "mode": pontoon
 * attaches to a network `pontoon network create -d macvlan -o parent= -o macvlan_mode=` made, and
 * the keys must say what that network has (a config naming another parent is a mistake, not a wish).
 */
function checkMacvlanKeys(conf: NetConfig, net: NetworkResource): void {
  const keys = [
    ['master', conf.macvlan.master, 'parent'],
    ['mode', conf.macvlan.mode, 'macvlan_mode'],
  ] as const;
  for (const [key, given, option] of keys) {
    if (given === undefined) continue;
    const bad = (why: string) => new CniError(CniCode.invalidNetworkConfig, `invalid network configuration: "${key}" is ${JSON.stringify(given)}, ${why}`);
    if (net.Driver !== 'macvlan') throw bad(`but network ${net.Name} is a ${net.Driver} network, not macvlan`);
    const has = net.Options[option];
    if (given !== has) throw bad(`network ${net.Name} has ${has === undefined ? `no ${option}` : `${option} ${has}`} (pontoon network create -o ${option}= decides it)`);
  }
}

/** A runtimeConfig port mapping as `pontoon network connect -p` takes it. */
export function publishSpec(m: PortMappingRequest): string {
  const proto = (m.protocol ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') {
    throw new CniError(CniCode.unsupportedField, `unsupported port mapping protocol ${JSON.stringify(m.protocol)}: pontoon publishes tcp and udp`);
  }
  const host = m.hostIP ?? '';
  if (host.includes(':')) throw new CniError(CniCode.unsupportedField, `unsupported port mapping host address ${host}: pontoon publishes on IPv4 only`);
  return `${host !== '' ? `${host}:` : ''}${m.hostPort}:${m.containerPort}/${proto}`;
}

/**
 * The addresses asked for: runtimeConfig "ips" (capability ips) or CNI_ARGS IP= (comma-separated),
 * which must agree; at most one per family.
 */
export function requestedIps(conf: NetConfig, env: CniEnv): { ip?: string; ip6?: string } {
  const asked = { v4: new Set<string>(), v6: new Set<string>() };
  const fromArgs = env.args.ip !== undefined ? env.args.ip.split(',').filter((a) => a !== '') : [];
  for (const a of [...conf.ips, ...fromArgs]) {
    const ip = a.split('/')[0]!;
    (ip.includes(':') ? asked.v6 : asked.v4).add(ip);
  }
  for (const [family, set] of [['IPv4', asked.v4], ['IPv6', asked.v6]] as const) {
    if (set.size > 1) {
      throw new CniError(CniCode.unsupportedField, `more than one address asked for (${[...set].join(', ')}): a pontoon endpoint has one ${family} address`);
    }
  }
  const [ip] = asked.v4;
  const [ip6] = asked.v6;
  return { ...(ip !== undefined ? { ip } : {}), ...(ip6 !== undefined ? { ip6 } : {}) };
}

export function connectRequest(conf: NetConfig, env: CniEnv): ConnectRequest {
  // Podman passes the container's name as K8S_POD_NAME: the name other containers resolve
  const name = env.args.podName ?? env.containerId.slice(0, 12);
  const aliases = [...new Set(conf.aliases)].filter((a) => a !== name);
  const ips = requestedIps(conf, env);
  const publish = conf.portMappings.map(publishSpec);
  return {
    netns: env.netns,
    name,
    ifName: env.ifName,
    containerId: env.containerId,
    ...ips,
    ...(aliases.length > 0 ? { aliases } : {}),
    ...(publish.length > 0 ? { publish } : {}),
  };
}

async function add(deps: PluginDeps, conf: NetConfig, env: CniEnv): Promise<string> {
  const req = connectRequest(conf, env);
  if (!deps.sandbox.exists(env.netns)) throw new CniError(CniCode.unknownContainer, `network namespace ${env.netns} does not exist`);
  const client = deps.client(conf.socket);
  const net = await inspectNetwork(client, conf);
  const ep = await daemonCall(() => client.request<EndpointResource>('POST', `/v1/networks/${enc(conf.network)}/connect`, req));
  return JSON.stringify(chainedResult(conf.prevResult, addResult(conf.cniVersion, net, ep, env.netns))) + '\n';
}

/** Idempotent: an attachment (or a network) that is not there is already deleted. */
async function del(deps: PluginDeps, conf: NetConfig, env: CniEnv): Promise<string> {
  const client = deps.client(conf.socket);
  const req: DisconnectRequest = { containerId: env.containerId, ifName: env.ifName };
  await daemonCall(async () => {
    try {
      await client.request('POST', `/v1/networks/${enc(conf.network)}/disconnect`, req);
    } catch (e) {
      if (!(e instanceof ApiRequestError && e.status === 404)) throw e;
    }
  });
  return '';
}

interface PrevResult {
  interfaces?: { name?: string; mac?: string }[];
  ips?: { address?: string }[];
}

/** The attachment still is what ADD answered: in the daemon, and inside the namespace. */
async function check(deps: PluginDeps, conf: NetConfig, env: CniEnv): Promise<string> {
  if (!knowsCheck(conf.cniVersion)) {
    throw new CniError(CniCode.incompatibleVersion, `CHECK needs cniVersion 0.4.0 or later, the configuration has ${conf.cniVersion}`);
  }
  if (typeof conf.prevResult !== 'object' || conf.prevResult === null) {
    throw new CniError(CniCode.invalidNetworkConfig, 'invalid network configuration: CHECK needs "prevResult"');
  }
  const prev = conf.prevResult as PrevResult;
  const net = await inspectNetwork(deps.client(conf.socket), conf);
  const ep = Object.values(net.Containers).find((c) => c.ContainerID === env.containerId && c.Interface === env.ifName);
  const who = `container ${env.containerId} (${env.ifName})`;
  if (ep === undefined) throw new CniError(CniCode.checkFailed, `${who} is not connected to network ${net.Name}`);
  const prevAddresses = (prev.ips ?? []).map((i) => i.address);
  const ours = [ep.IPv4Address, ep.IPv6Address].filter((a) => a !== '');
  for (const a of ours) {
    if (!prevAddresses.includes(a)) {
      throw new CniError(CniCode.checkFailed, `${who} has ${a} on network ${net.Name}, the previous result says ${prevAddresses.join(', ') || 'none'}`);
    }
  }
  if (!deps.sandbox.exists(env.netns)) throw new CniError(CniCode.unknownContainer, `network namespace ${env.netns} does not exist`);
  const inside = await deps.sandbox.inspect(env.netns, env.ifName);
  if (inside === null) throw new CniError(CniCode.checkFailed, `${env.netns} has no interface ${env.ifName}`);
  if (inside.mac.toLowerCase() !== ep.MacAddress.toLowerCase()) {
    throw new CniError(CniCode.checkFailed, `${env.ifName} in ${env.netns} has MAC ${inside.mac}, network ${net.Name} gave it ${ep.MacAddress}`);
  }
  for (const a of ours) {
    if (!inside.addresses.includes(a)) throw new CniError(CniCode.checkFailed, `${env.ifName} in ${env.netns} lacks its address ${a}`);
  }
  return '';
}

function versionAnswer(): string {
  return JSON.stringify({ cniVersion: NEWEST_VERSION, supportedVersions: SUPPORTED_VERSIONS }) + '\n';
}

export async function runPlugin(env: NodeJS.ProcessEnv, stdin: string, deps: PluginDeps): Promise<PluginOutcome> {
  try {
    if (commandOf(env) === 'VERSION') return { stdout: versionAnswer(), exitCode: 0 };
    const conf = parseNetConfig(stdin);
    const cniEnv = parseCniEnv(env);
    const run = cniEnv.command === 'ADD' ? add : cniEnv.command === 'DEL' ? del : check;
    return { stdout: await run(deps, conf, cniEnv), exitCode: 0 };
  } catch (e) {
    const err = e instanceof CniError ? e : new CniError(CniCode.daemonRefused, `pontoon-cni failed: ${(e as Error).message}`);
    const v = versionOf(stdin);
    return { stdout: JSON.stringify(err.toJson(isSupportedVersion(v) ? v : NEWEST_VERSION)) + '\n', exitCode: 1 };
  }
}
