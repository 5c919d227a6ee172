import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { MemoryPort } from '../../../src/ports/memory-port.js';
import { parseMac } from '../../../src/wire/mac.js';
import { A, hex, makeWorld, ROUTER_ARP_REPLY, variant } from './fixture.js';

/** An uplink with MTU 1400 behind a bridge of MTU 1500: path-MTU discovery must work through the NAT. */
function narrowUplink() {
  const w = makeWorld();
  const uplink = new MemoryPort();
  const id = w.dp.control.addUplink(
    { index: 2, name: 'uplink', ip: A.uplink, prefixLen: 24, mac: parseMac('02:50:00:00:00:ff'), gatewayIp: A.router, mtu: 1400 },
    uplink,
  ).id;
  w.dp.receive(id, ROUTER_ARP_REPLY);
  uplink.take();
  return { ...w, uplink };
}

describe('path MTU through the masquerade', () => {
  it('answers a DF packet too big for the uplink with fragmentation needed to the container, untranslated', () => {
    const w = narrowUplink();
    // 172.17.0.2:5000 -> 203.0.113.10:9999, UDP, DF, 1450 bytes of IP
    const big = Buffer.alloc(14 + 1450);
    hex('0250000000010242ac1100020800').copy(big, 0);
    hex('450005aa0001400040110000ac110002cb00710a13882710059600010000').copy(big, 14);
    const frame = variant(big, {});
    w.dp.receive(w.ids.c1, frame);
    expect(w.uplink.take()).toEqual([]);
    const [err] = w.c1.take();
    expect(err.subarray(0, 12).toString('hex')).toBe('0242ac110002025000000001');
    expect(err.readUInt32BE(26)).toBe(0xac110001); // from the container's gateway
    expect(err.readUInt32BE(30)).toBe(0xac110002); // to the container itself
    expect([err[34], err[35]]).toEqual([3, 4]);
    expect(err.readUInt16BE(40)).toBe(1400);
    expect(err.readUInt32BE(42 + 12)).toBe(0xac110002); // the quoted packet is the one it sent
    expect(err.readUInt16BE(42 + 20)).toBe(5000);
    expect(w.dp.counters.drops[Drop.FragmentationNeeded]).toBe(1);
  });
});
