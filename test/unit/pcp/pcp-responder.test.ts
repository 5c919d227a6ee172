// The server's answers, bytes in and bytes out: who may ask, what each request gets, and that
// no datagram makes it throw.

import { describe, expect, it } from 'vitest';
import { MappingManager } from '../../../src/control/pcp/mapping-manager.js';
import { PcpResponder } from '../../../src/control/pcp/pcp-responder.js';
import { PcpStats } from '../../../src/control/pcp/pcp-stats.js';
import { FakePins } from './fake-pins.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const V4 = (a: string): string => `00000000 00000000 0000ffff ${a}`;
const C1 = 0x0a000002; // 10.0.0.2, a container of a masquerading network
const C2 = 0x0a000003; // another container
const INTERNAL = 0x0a010002; // on an internal network
const UPLINK = 0xc6336402; // 198.51.100.2
const NONCE = '0102030405060708090a0b0c';
const ZERO12 = '00'.repeat(12);
const mapReq = (o: { client?: string; lifetime?: string; proto?: string; port?: string; suggested?: string; nonce?: string; options?: string } = {}) =>
  hex(`02 01 0000 ${o.lifetime ?? '00001c20'} ${V4(o.client ?? '0a000002')} ${o.nonce ?? NONCE} ${o.proto ?? '06'}000000 ${o.port ?? '0fa0'} ${o.suggested ?? '0fa0'} ${'00'.repeat(16)} ${o.options ?? ''}`);

function setup(o: { max?: number } = {}) {
  let now = 5_000_000;
  const pins = new FakePins();
  const stats = new PcpStats();
  const manager = new MappingManager({ pins, stats, maxMappingsPerEndpoint: o.max ?? 4, maxLifetimeSeconds: 3600, clock: () => now });
  const responder = new PcpResponder({
    manager,
    stats,
    externalAddress: UPLINK,
    clientOf: (ip) => (ip === C1 || ip === C2 ? { masquerading: true } : ip === INTERNAL ? { masquerading: false } : null),
  });
  return { manager, pins, stats, responder, advance: (s: number) => (now += s * 1000) };
}

describe('NAT-PMP answers', () => {
  it('the public address to a masquerading container, NOT_AUTHORIZED to an internal one', async () => {
    const { responder, advance } = setup();
    advance(3);
    expect(await responder.answer(hex('0000'), C1, 40000)).toEqual(hex('00 80 0000 00000003 c6336402'));
    expect(await responder.answer(hex('0000'), INTERNAL, 40000)).toEqual(hex('00 80 0002 00000003 00000000'));
    expect(await responder.answer(hex('0000'), 0x0afe0001, 40000)).toEqual(hex('00 80 0002 00000003 00000000')); // the host
  });

  it('maps natpmpc -a 4001 4000 tcp 60, deletes it with lifetime 0', async () => {
    const { responder, manager, pins } = setup();
    expect(await responder.answer(hex('00 02 0000 0fa0 0fa1 0000003c'), C1, 40000)).toEqual(hex('00 82 0000 00000000 0fa0 0fa1 0000003c'));
    expect(manager.list()).toMatchObject([{ source: 'nat-pmp', internalPort: 4000, externalPort: 4001 }]);
    expect(await responder.answer(hex('00 02 0000 0fa0 0000 00000000'), C1, 40000)).toEqual(hex('00 82 0000 00000000 0fa0 0000 00000000'));
    expect(manager.size).toBe(0);
    expect(pins.pins.size).toBe(0);
  });

  it('private port 0 and lifetime 0 delete all of the client\'s mappings of that protocol', async () => {
    const { responder, manager } = setup();
    await responder.answer(hex('00 01 0000 0fa0 0000 0000003c'), C1, 40000);
    await responder.answer(hex('00 01 0000 0fa1 0000 0000003c'), C1, 40000);
    await responder.answer(hex('00 02 0000 0fa1 0000 0000003c'), C1, 40000);
    await responder.answer(hex('00 01 0000 0fa1 0000 0000003c'), C2, 40000);
    expect(await responder.answer(hex('00 01 0000 0000 0000 00000000'), C1, 40000)).toEqual(hex('00 81 0000 00000000 0000 0000 00000000'));
    expect(manager.list().map((m) => `${m.internalIp === C1 ? 'c1' : 'c2'}/${m.proto}/${m.internalPort}`)).toEqual(['c1/6/4001', 'c2/17/4001']);
  });

  it('out of resources (4) at the limit; not authorized on an internal network; opcode 5', async () => {
    const { responder, stats } = setup({ max: 1 });
    await responder.answer(hex('00 01 0000 0fa0 0000 0000003c'), C1, 40000);
    expect(await responder.answer(hex('00 01 0000 0fa1 0000 0000003c'), C1, 40000)).toEqual(hex('00 81 0004 00000000 0fa1 0000 00000000'));
    expect(await responder.answer(hex('00 01 0000 0fa1 0000 0000003c'), INTERNAL, 40000)).toEqual(hex('00 81 0002 00000000 0fa1 0000 00000000'));
    expect(await responder.answer(hex('00 09'), C1, 40000)).toEqual(hex('00 89 0005 00000000'));
    expect(stats.resultsOf('natpmp', 'out_of_resources')).toBe(1);
    expect(stats.requestsOf('natpmp', 'map_udp')).toBe(3);
  });
});

describe('PCP answers', () => {
  it('MAP: the assigned port and the uplink address, lifetime capped; renewal keeps the port', async () => {
    const { responder, pins } = setup();
    pins.taken.add('6/4000');
    const r = await responder.answer(mapReq({ lifetime: '00015180' }), C1, 40000); // 86400 s asked
    expect(r).toEqual(hex(`02 81 00 00 00000e10 00000000 ${ZERO12} ${NONCE} 06000000 0fa0 0400 ${V4('c6336402')}`));
    const again = await responder.answer(mapReq({ lifetime: '0000003c' }), C1, 40000);
    expect(again!.readUInt16BE(42)).toBe(1024);
    expect(again!.readUInt32BE(4)).toBe(60);
  });

  it('MAP with lifetime 0 deletes; with another nonce NOT_AUTHORIZED', async () => {
    const { responder, manager } = setup();
    await responder.answer(mapReq(), C1, 40000);
    const other = await responder.answer(mapReq({ lifetime: '00000000', nonce: 'ff'.repeat(12) }), C1, 40000);
    expect(other![3]).toBe(2);
    expect(manager.size).toBe(1);
    const del = await responder.answer(mapReq({ lifetime: '00000000' }), C1, 40000);
    expect(del![3]).toBe(0);
    expect(del!.readUInt32BE(4)).toBe(0);
    expect(manager.size).toBe(0);
  });

  it('PEER: the outbound mapping of the inside port, pinned', async () => {
    const { responder, manager } = setup();
    const r = await responder.answer(hex(`02 02 0000 00000e10 ${V4('0a000002')} ${NONCE} 11000000 1388 0000 ${'00'.repeat(16)} 0035 0000 ${V4('cb007105')}`), C1, 40000);
    expect(r).toEqual(hex(`02 82 00 00 00000e10 00000000 ${ZERO12} ${NONCE} 11000000 1388 1388 ${V4('c6336402')} 0035 0000 ${V4('cb007105')}`));
    expect(manager.list()).toMatchObject([{ opcode: 'peer', proto: 17, remoteIp: 0xcb007105, remotePort: 53 }]);
  });

  it('ANNOUNCE is answered with the epoch', async () => {
    const { responder, advance } = setup();
    advance(7);
    expect(await responder.answer(hex(`02 00 0000 00000000 ${V4('0a000002')}`), C1, 40000)).toEqual(hex(`02 80 00 00 00000000 00000007 ${ZERO12}`));
  });

  const code = (b: Buffer | null): number => b![3]!;

  it('every refusal', async () => {
    const { responder, pins, stats } = setup({ max: 1 });
    // the client field is not the source
    expect(code(await responder.answer(mapReq({ client: '0a000009' }), C1, 40000))).toBe(12);
    // internal network, stranger
    expect(code(await responder.answer(mapReq({ client: '0a010002' }), INTERNAL, 40000))).toBe(2);
    expect(code(await responder.answer(mapReq({ client: '0afe0001' }), 0x0afe0001, 40000))).toBe(2);
    // THIRD_PARTY for another container: NOT_AUTHORIZED; naming itself: MALFORMED_REQUEST
    expect(code(await responder.answer(mapReq({ options: `01 00 0010 ${V4('0a000003')}` }), C1, 40000))).toBe(2);
    expect(code(await responder.answer(mapReq({ options: `01 00 0010 ${V4('0a000002')}` }), C1, 40000))).toBe(3);
    // FILTER is not implemented
    expect(code(await responder.answer(mapReq({ options: `03 00 0014 00 00 0000 ${'00'.repeat(16)}` }), C1, 40000))).toBe(5);
    // protocols other than TCP and UDP
    expect(code(await responder.answer(mapReq({ proto: '84' }), C1, 40000))).toBe(9);
    // PREFER_FAILURE on a port that is taken
    pins.taken.add('6/4000');
    expect(code(await responder.answer(mapReq({ options: '02 00 0000' }), C1, 40000))).toBe(11);
    // the limit
    expect(code(await responder.answer(mapReq({ port: '0001' }), C1, 40000))).toBe(0);
    const full = await responder.answer(mapReq({ port: '0002' }), C1, 40000);
    expect(code(full)).toBe(8);
    expect(full!.readUInt32BE(4)).toBe(30); // a short-lived error
    // versions
    expect(await responder.answer(hex('01 01 0000'), C1, 40000)).toEqual(hex(`02 81 00 01 00000708 00000000 ${ZERO12}`));
    expect(code(await responder.answer(hex(`02 05 0000 00000000 ${V4('0a000002')}`), C1, 40000))).toBe(4);
    expect(code(await responder.answer(hex(`02 00 0000 0000003c ${V4('0a000002')}`), C1, 40000))).toBe(3); // ANNOUNCE with a lifetime
    expect(stats.resultsOf('pcp', 'address_mismatch')).toBe(1);
    expect(stats.resultsOf('pcp', 'no_resources')).toBe(1);
  });

  it('drops what cannot be answered, counted', async () => {
    const { responder, stats } = setup();
    expect(await responder.answer(hex('02'), C1, 40000)).toBeNull();
    expect(await responder.answer(hex('02 01 0000 00000000'), C1, 40000)).toBeNull();
    expect(await responder.answer(hex(`02 81 0000 00000000 ${V4('0a000002')}`), C1, 40000)).toBeNull();
    expect(stats.dropsOf('short')).toBe(1);
    expect(stats.dropsOf('truncated')).toBe(1);
    expect(stats.dropsOf('response')).toBe(1);
  });

  it('a failing data plane is a counted drop, never a throw', async () => {
    const { responder, pins, stats } = setup();
    pins.pinMapping = () => Promise.reject(new Error('worker gone'));
    expect(code(await responder.answer(mapReq(), C1, 40000))).toBe(8); // the pin refused: NO_RESOURCES
    const { responder: r2, manager, stats: s2 } = setup();
    manager.request = () => {
      throw new Error('bug');
    };
    expect(await r2.answer(mapReq(), C1, 40000)).toBeNull();
    expect(s2.dropsOf('error')).toBe(1);
    expect(stats.dropsOf('error')).toBe(0);
  });

  it('answers or drops random datagrams without throwing', async () => {
    const { responder } = setup({ max: 1000 });
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
    for (let n = 0; n < 2000; n++) {
      const b = Buffer.alloc(n % 130);
      for (let i = 0; i < b.length; i++) b[i] = rnd();
      if (b.length > 0) b[0] = [0, 2, 2, 1][n % 4]!;
      if (b.length > 1) b[1] = b[1]! % 4;
      if (b.length >= 24) b.writeUInt32BE(C1, 20), b.fill(0, 8, 18), b.fill(0xff, 18, 20);
      const r = await responder.answer(b, C1, 40000);
      expect(r === null || (Buffer.isBuffer(r) && r.length >= 8)).toBe(true);
    }
  });
});
