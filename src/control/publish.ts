// `--publish [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`, as `docker run -p` takes it: parsed and
// expanded into one mapping per port, every mistake a one-line error naming the spec.

import { parseIpv4OrNull } from '../wire/ipv4-address.js';
import { ApiFailure } from './gateway-api.js';
import { isLoopbackAddress } from './loopback-proxy.js';

export interface PortMapping {
  proto: 'tcp' | 'udp';
  /** the address it answers on: "0.0.0.0" for every publishing address of the gateway, a loopback address for the host only */
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

export function parsePublish(spec: string): PortMapping[] {
  let rest = spec.trim();
  let proto: 'tcp' | 'udp' = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: protocol must be tcp or udp`);
    proto = p;
    rest = rest.slice(0, slash);
  }
  const parts = rest.split(':');
  if (parts.length > 3 || parts.some((p, i) => p === '' && i !== parts.length - 2)) {
    throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]`);
  }
  let hostIp = '0.0.0.0';
  let hostPart = '';
  let containerPart: string;
  if (parts.length === 3) {
    [hostIp, hostPart, containerPart] = parts as [string, string, string];
    if (parseIpv4OrNull(hostIp) === null) throw new ApiFailure(400, `invalid port mapping ${JSON.stringify(spec)}: bad host address ${JSON.stringify(hostIp)}`);
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
  return out;
}

/** "80/tcp -> 0.0.0.0:8080", as `docker port` prints it. */
export function formatMapping(m: PortMapping): string {
  return `${m.containerPort}/${m.proto} -> ${m.hostIp}:${m.hostPort}`;
}

/** ports picked for `-p CONTAINERPORT` without a host port, like Docker's ephemeral range */
const EPHEMERAL_MIN = 32768;
const EPHEMERAL_MAX = 60999;

/**
 * The mappings a connect asks for, checked against the ports already published (`holder` names
 * who has each) and the addresses the gateway can publish on, with host ports picked for those
 * that have none. Refuses with a one-line ApiFailure; changes nothing.
 */
export function planPublish(
  specs: string[],
  name: string,
  published: { proto: 'tcp' | 'udp'; hostPort: number; holder: string }[],
  publishAddresses: string[],
): PortMapping[] {
  const wanted = specs.flatMap((s) => parsePublish(s));
  const used = new Map<string, string>();
  for (const p of published) used.set(`${p.proto}/${p.hostPort}`, p.holder);
  for (const m of wanted) {
    if (m.hostIp !== '0.0.0.0' && !isLoopbackAddress(m.hostIp) && !publishAddresses.includes(m.hostIp)) {
      throw new ApiFailure(
        400,
        `cannot publish on ${m.hostIp}: the gateway answers on ${publishAddresses.join(' and ')} (or 0.0.0.0 for both), and the host on 127.0.0.1`,
      );
    }
    if (m.hostPort === 0) continue;
    const key = `${m.proto}/${m.hostPort}`;
    const holder = used.get(key);
    if (holder !== undefined) throw new ApiFailure(409, `port ${m.hostPort}/${m.proto} is already published by ${holder}`);
    used.set(key, name);
  }
  for (const m of wanted) {
    if (m.hostPort !== 0) continue;
    let p = EPHEMERAL_MIN;
    while (p <= EPHEMERAL_MAX && used.has(`${m.proto}/${p}`)) p++;
    if (p > EPHEMERAL_MAX) throw new ApiFailure(409, `no free host port left for ${m.containerPort}/${m.proto}`);
    m.hostPort = p;
    used.set(`${m.proto}/${p}`, name);
  }
  return wanted;
}
