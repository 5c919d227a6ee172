// `--publish [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`, as `docker run -p` takes it: parsed and
// expanded into one mapping per port, every mistake a one-line error naming the spec. HOSTIP may
// be IPv6 in brackets (`[::]:8080:80`); without one, an endpoint with an IPv6 address publishes on
// both families (0.0.0.0 and ::), as Docker does with IPv6 on.

import { parseIpv4OrNull } from '../wire/ipv4-address.js';
import { ipv6ToString, parseIpv6OrNull } from '../wire/ipv6-address.js';
import { ApiFailure } from './gateway-api.js';
import { isLoopbackAddress } from './loopback-proxy.js';

export interface PortMapping {
  proto: 'tcp' | 'udp';
  /**
   * the address it answers on: "0.0.0.0" for every publishing IPv4 address of the gateway, "::"
   * for every IPv6 one (to the container's IPv6 address), one of those addresses, a loopback address for the host only
   */
  hostIp: string;
  /** 0: pick a free port when applied */
  hostPort: number;
  containerPort: number;
}

function parseRange(s: string, spec: string, what: string): [number, number] {
  const m = /^([0-9]{1,5})(?:-([0-9]{1,5}))?$/.exec(s);
  if (m === null) throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: bad ${what} ${JSON.stringify(s)}`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > 65535 || b > 65535 || a > b || (what === 'container port' && a === 0)) {
    throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: bad ${what} range ${JSON.stringify(s)}`);
  }
  return [a, b];
}

/** Whether a mapping publishes on IPv6 (its host address is one). */
export function isIpv6Mapping(m: { hostIp?: string }): boolean {
  return m.hostIp !== undefined && m.hostIp.includes(':');
}

export function parsePublish(spec: string): PortMapping[] {
  return parsePublishSpec(spec).mappings;
}

/** The mappings of one spec, and whether it named its host address (else both families may publish). */
function parsePublishSpec(spec: string): { mappings: PortMapping[]; explicitHost: boolean } {
  let rest = spec.trim();
  let proto: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: protocol must be tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  // an IPv6 host address is in brackets: [::]:8080:80, [2001:db8::2]:8080:80
  let host6: string | null = null;
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(rest);
  if (bracket !== null) {
    const a = parseIpv6OrNull(bracket[1]!);
    if (a === null) throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: bad host address ${JSON.stringify(bracket[1])}`);
    host6 = ipv6ToString(a);
    rest = bracket[2]!;
    if (rest.split(':').length !== 2) throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: expected [HOSTIP6]:HOSTPORT:CONTAINERPORT[/tcp|udp]`);
  }
  const parts = host6 !== null ? ['', ...rest.split(':')] : rest.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && i !== parts.length - 2 && !(host6 !== null && i === 0))) {
    throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`);
  }
  let hostIp = '0.0.0.0';
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 3) {
    [hostIp, hostPart, containerPart] = parts as [string, string, string];
    if (host6 !== null) hostIp = host6;
    else if (parseIpv4OrNull(hostIp) === null) throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: bad host address ${JSON.stringify(hostIp)}`);
  } else if (parts.length === 2) {
    [hostPart, containerPart] = parts as [string, string];
  } else {
    containerPart = parts[0]!;
  }
  const [c0, c1] = parseRange(containerPart, spec, 'container port');
  const count = c1 - c0 + 1;
  let h0 = 0;
  if (hostPart !== '') {
    const [a, b] = parseRange(hostPart, spec, 'host port');
    if (!(a === 0 && b === 0) && b - a + 1 !== count) {
      throw new ApiFailure(
        400,
        `invalid port mapping ${JSON.stringify(spec)}: the host range has ${b - a + 1} ports and the container range ${count}`,
      );
    }
    h0 = a;
  }
  const out: PortMapping[] = [];
  for (let i = 0; i < count; i++) out.push({ proto, hostIp, hostPort: h0 === 0 ? 0 : h0 + i, containerPort: c0 + i });
  return { mappings: out, explicitHost: parts.length === 3 };
}

/** "80/tcp -> 0.0.0.0:8080", "80/tcp -> :::8080", as `docker port` (20.10) prints them. */
export function formatMapping(m: PortMapping): string {
  return `${m.containerPort}/${m.proto} -> ${m.hostIp}:${m.hostPort}`;
}

/** A mapping's key among the published ports: the families' port spaces are separate. */
function usedKey(m: { proto: string; hostPort: number; hostIp?: string }, hostPort = m.hostPort): string {
  return `${isIpv6Mapping(m) ? 6 : 4}/${m.proto}/${hostPort}`;
}

/** ports picked for `-p CONTAINERPORT` without a host port, like Docker's ephemeral range */
const EPHEMERAL_MIN = 32768;
const EPHEMERAL_MAX = 60999;

/** The families of the endpoint that publishes (its addresses'), and its network's name for messages. */
export interface EndpointFamilies {
  ipv4: boolean;
  ipv6: boolean;
  network: string;
}

/**
 * The mappings a connect asks for, checked against the ports already published (`holder` names
 * who has each) and the addresses the gateway can publish on (`publishAddresses6`: its IPv6 ones,
 * [] when it has none), with host ports picked for those that have none. A spec without a host
 * address publishes on every family of the endpoint's (both for a dual-stack one, on the same host
 * port; IPv6 alone on an IPv6-only network). Refuses with a one-line ApiFailure; changes nothing.
 */
export function planPublish(
  specs: string[],
  name: string,
  published: { proto: 'tcp' | 'udp'; hostPort: number; hostIp?: string; holder: string }[],
  publishAddresses: string[],
  publishAddresses6: string[] = [],
  families: EndpointFamilies = { ipv4: true, ipv6: false, network: '' },
): PortMapping[] {
  const ipv6 = families.ipv6;
  const wanted: PortMapping[] = [];
  /** the IPv6 twin of each mapping of a spec without a host address */
  const twins = new Map<PortMapping, PortMapping>();
  for (const spec of specs) {
    const { mappings, explicitHost } = parsePublishSpec(spec);
    for (const m of mappings) {
      if (!families.ipv4 && !explicitHost) {
        m.hostIp = '::'; // an IPv6-only endpoint: its one family
        wanted.push(m);
        continue;
      }
      wanted.push(m);
      if (ipv6 && !explicitHost && publishAddresses6.length > 0) {
        const twin: PortMapping = { ...m, hostIp: '::' };
        twins.set(m, twin);
        wanted.push(twin);
      }
    }
  }
  const used = new Map<string, string>();
  for (const p of published) used.set(usedKey(p), p.holder);
  for (const m of wanted) {
    if (isIpv6Mapping(m)) {
      if (!ipv6) throw new ApiFailure(400, `cannot publish on [${m.hostIp}]: ${name} has no IPv6 address`);
      if (publishAddresses6.length === 0 || (m.hostIp !== '::' && !publishAddresses6.includes(m.hostIp))) {
        throw new ApiFailure(
          400,
          publishAddresses6.length === 0
            ? `cannot publish on [${m.hostIp}]: the gateway has no IPv6 address to publish on (uplink.address6, host.address6)`
            : `cannot publish on [${m.hostIp}]: the gateway answers on ${publishAddresses6.map((a) => `[${a}]`).join(' and ')} (or [::] for both)`,
        );
      }
    } else if (!families.ipv4) {
      throw new ApiFailure(
        400,
        `network ${families.network} is IPv6-only: cannot publish ${m.containerPort}/${m.proto} of ${name} on IPv4 address ${m.hostIp} (publish on an IPv6 address: [::]:HOSTPORT:${m.containerPort})`,
      );
    } else if (m.hostIp !== '0.0.0.0' && !isLoopbackAddress(m.hostIp) && !publishAddresses.includes(m.hostIp)) {
      throw new ApiFailure(
        400,
        `cannot publish on ${m.hostIp}: the gateway answers on ${publishAddresses.join(' and ')} (or 0.0.0.0 for both), and the host on 127.0.0.1`,
      );
    }
    if (m.hostPort === 0) continue;
    const key = usedKey(m);
    const holder = used.get(key);
    if (holder !== undefined) throw new ApiFailure(409, `port ${isIpv6Mapping(m) ? '[::]:' : ''}${m.hostPort}/${m.proto} is already published by ${holder}`);
    used.set(key, name);
  }
  for (const m of wanted) {
    if (m.hostPort !== 0 || [...twins.values()].includes(m)) continue;
    const twin = twins.get(m);
    // a twin takes its mapping's port: the first free in both families
    let p = EPHEMERAL_MIN;
    while (p <= EPHEMERAL_MAX && (used.has(usedKey(m, p)) || (twin !== undefined && used.has(usedKey(twin, p))))) p++;
    if (p > EPHEMERAL_MAX) throw new ApiFailure(409, `no free host port left for ${m.containerPort}/${m.proto}`);
    m.hostPort = p;
    used.set(usedKey(m), name);
    if (twin !== undefined) {
      twin.hostPort = p;
      used.set(usedKey(twin), name);
    }
  }
  return wanted;
}
