// A small world for data-plane tests: two networks, three container ports and the host port,
// all in-memory, with the addresses used by the literal frames in the tests.

import { Dataplane, type DataplaneOptions } from '../../../src/dataplane/dataplane.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseIpv4 } from '../../../src/wire/ipv4-address.js';
import { parseMac } from '../../../src/wire/mac.js';

export const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

export interface World {
  dp: Dataplane;
  host: MemoryPort;
  c1: MemoryPort;
  c2: MemoryPort;
  c3: MemoryPort;
  ids: { host: number; c1: number; c2: number; c3: number };
}

export function makeWorld(options: Partial<DataplaneOptions> = {}, bridgeMtu = 1500): World {
  const dp = new Dataplane(options);
  dp.now = 1_000_000;
  dp.addNetwork({
    index: 0,
    name: 'bridge',
    subnet: parseIpv4('172.17.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.17.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu: bridgeMtu,
    internal: false,
  });
  dp.addNetwork({
    index: 1,
    name: 'backend',
    subnet: parseIpv4('172.18.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.18.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:02'),
    mtu: 1500,
    internal: false,
  });
  const host = new MemoryPort();
  const c1 = new MemoryPort();
  const c2 = new MemoryPort();
  const c3 = new MemoryPort();
  const hostId = dp.addHostPort(
    {
      name: 'pontoon0',
      hostIp: parseIpv4('10.254.0.1'),
      gatewayIp: parseIpv4('10.254.0.2'),
      prefixLen: 30,
      mtu: 1500,
      defaultRoute: true,
    },
    host,
  ).id;
  const ep = (name: string, network: number, mac: string, ip: string, io: MemoryPort): number =>
    dp.addEndpoint({ name, network, mac: parseMac(mac), ip: parseIpv4(ip) }, io).id;
  const ids = {
    host: hostId,
    c1: ep('c1', 0, '02:42:ac:11:00:02', '172.17.0.2', c1),
    c2: ep('c2', 0, '02:42:ac:11:00:03', '172.17.0.3', c2),
    c3: ep('c3', 1, '02:42:ac:12:00:02', '172.18.0.2', c3),
  };
  for (const p of [host, c1, c2, c3]) p.take(); // gratuitous ARPs of the attachments
  return { dp, host, c1, c2, c3, ids };
}
