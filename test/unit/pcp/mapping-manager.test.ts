import { describe, expect, it } from 'vitest';
import { type MapRequest, MappingManager, type SavedMappings } from '../../../src/control/pcp/mapping-manager.js';
import { PcpStats } from '../../../src/control/pcp/pcp-stats.js';
import { FakePins } from './fake-pins.js';

const C1 = 0x0a000002; // 10.0.0.2
const C2 = 0x0a000003;

function setup(o: { max?: number; maxLifetime?: number; saved?: SavedMappings | null } = {}) {
  let now = 1_000_000;
  const pins = new FakePins();
  const stats = new PcpStats();
  const saves: SavedMappings[] = [];
  const store = { load: () => o.saved ?? null, save: (s: SavedMappings) => void saves.push(structuredClone(s)) };
  const manager = new MappingManager({ pins, maxMappingsPerEndpoint: o.max ?? 3, maxLifetimeSeconds: o.maxLifetime ?? 3600, stats, clock: () => now, store });
  return { manager, pins, stats, saves, advance: (s: number) => (now += s * 1000), now: () => now };
}

const req = (over: Partial<MapRequest> = {}): MapRequest => ({
  source: 'pcp',
  opcode: 'map',
  proto: 6,
  internalIp: C1,
  internalPort: 4000,
  suggestedPort: 0,
  exact: false,
  lifetime: 600,
  nonce: 'aa'.repeat(12),
  remoteIp: 0,
  remotePort: 0,
  clientPort: 40000,
  ...over,
});

describe('MappingManager', () => {
  it('creates a mapping on the inside port, caps the lifetime, renews with the same nonce', async () => {
    const { manager, pins, advance } = setup({ maxLifetime: 300 });
    const r = await manager.request(req());
    expect(r).toMatchObject({ ok: true, lifetime: 300, mapping: { externalPort: 4000 } });
    advance(200);
    expect(manager.remaining(manager.list()[0]!)).toBe(100);
    const again = await manager.request(req({ suggestedPort: 5000 }));
    expect(again).toMatchObject({ ok: true, lifetime: 300, mapping: { externalPort: 4000 } }); // same mapping
    expect(manager.remaining(manager.list()[0]!)).toBe(300);
    expect(manager.size).toBe(1);
    expect(pins.calls).toEqual([`pin 6/${C1}/4000 0`]); // a renewal does not touch the data plane
  });

  it('refuses another nonce (NOT_AUTHORIZED), lets NAT-PMP renew without one', async () => {
    const { manager } = setup();
    await manager.request(req());
    expect(await manager.request(req({ nonce: 'bb'.repeat(12) }))).toMatchObject({ ok: false, refusal: 'not_authorized' });
    expect(await manager.delete({ opcode: 'map', proto: 6, internalIp: C1, internalPort: 4000, nonce: 'bb'.repeat(12) })).toBe('not_authorized');
    expect(await manager.request(req({ source: 'nat-pmp', nonce: null }))).toMatchObject({ ok: true });
  });

  it('limits mappings per endpoint (NO_RESOURCES), other endpoints unaffected', async () => {
    const { manager } = setup({ max: 2 });
    expect((await manager.request(req({ internalPort: 1 }))).ok).toBe(true);
    expect((await manager.request(req({ internalPort: 2 }))).ok).toBe(true);
    expect(await manager.request(req({ internalPort: 3 }))).toMatchObject({ ok: false, refusal: 'no_resources' });
    expect((await manager.request(req({ internalPort: 1 }))).ok).toBe(true); // renewal within the limit
    expect((await manager.request(req({ internalIp: C2, internalPort: 3 }))).ok).toBe(true);
  });

  it('another port when the wanted one is taken; PREFER_FAILURE refuses instead', async () => {
    const { manager, pins } = setup();
    pins.taken.add('6/8080');
    expect(await manager.request(req({ suggestedPort: 8080 }))).toMatchObject({ ok: true, mapping: { externalPort: 1024 } });
    expect(await manager.request(req({ internalPort: 4001, suggestedPort: 8080, exact: true }))).toMatchObject({ ok: false, refusal: 'cannot_provide_external' });
    expect(manager.size).toBe(1);
  });

  it('expires mappings at their lifetime and unpins them', async () => {
    const { manager, pins, stats, advance } = setup();
    await manager.request(req({ lifetime: 10 }));
    await manager.request(req({ internalPort: 4001, lifetime: 20 }));
    advance(9);
    expect(await manager.sweep()).toBe(0);
    advance(1);
    expect(await manager.sweep()).toBe(1);
    expect([...pins.pins.keys()]).toEqual([`6/${C1}/4001`]);
    advance(10);
    await manager.sweep();
    expect(manager.size).toBe(0);
    expect(stats.removalsOf('expired')).toBe(2);
  });

  it('deletes one, or all of a client (per protocol), and everything when the endpoint disconnects', async () => {
    const { manager, pins, stats } = setup({ max: 10 });
    await manager.request(req({ internalPort: 1 }));
    await manager.request(req({ internalPort: 2 }));
    await manager.request(req({ internalPort: 3, proto: 17 }));
    await manager.request(req({ internalIp: C2 }));
    expect(await manager.delete({ opcode: 'map', proto: 6, internalIp: C1, internalPort: 1, nonce: null })).toBe('deleted');
    expect(await manager.delete({ opcode: 'map', proto: 6, internalIp: C1, internalPort: 999, nonce: null })).toBe('deleted'); // nothing there: fine
    expect(await manager.deleteAll(C1, 6, null)).toBe(1);
    expect(manager.mappingsOf(C1).map((m) => m.internalPort)).toEqual([3]);
    await manager.endpointGone(C1);
    expect(manager.mappingsOf(C1)).toEqual([]);
    expect(manager.mappingsOf(C2)).toHaveLength(1);
    expect([...pins.pins.keys()]).toEqual([`6/${C2}/4000`]);
    expect(stats.removalsOf('deleted')).toBe(2);
    expect(stats.removalsOf('disconnected')).toBe(1);
  });

  it('a MAP and a PEER of one inside port share the pin, open while the MAP lives: it goes with the last', async () => {
    const { manager, pins } = setup();
    const key = `6/${C1}/4000`;
    await manager.request(req({ opcode: 'peer', remoteIp: 0xcb007105, remotePort: 80 }));
    expect(pins.open.get(key)).toBe(false); // PEER alone: kept alive, not open to every host
    const map = await manager.request(req());
    expect(map).toMatchObject({ ok: true, mapping: { externalPort: 4000 } });
    expect(pins.open.get(key)).toBe(true);
    expect(manager.size).toBe(2);
    await manager.delete({ opcode: 'map', proto: 6, internalIp: C1, internalPort: 4000, nonce: null });
    expect(pins.pins.size).toBe(1);
    expect(pins.open.get(key)).toBe(false);
    await manager.delete({ opcode: 'peer', proto: 6, internalIp: C1, internalPort: 4000, nonce: null, remoteIp: 0xcb007105, remotePort: 80 });
    expect(pins.pins.size).toBe(0);
  });

  it('the epoch counts seconds from the start of the state', () => {
    const { manager, advance } = setup();
    expect(manager.epoch()).toBe(0);
    advance(12.5);
    expect(manager.epoch()).toBe(12);
  });

  it('saves every change', async () => {
    const { manager, saves } = setup();
    await manager.request(req());
    expect(saves.at(-1)!.mappings).toHaveLength(1);
    await manager.endpointGone(C1);
    expect(saves.at(-1)!.mappings).toHaveLength(0);
  });
});

describe('MappingManager.restore', () => {
  const saved = (epochStart: number, expiresAt: number): SavedMappings => ({
    version: 1,
    epochStart,
    mappings: [
      { source: 'pcp', opcode: 'map', proto: 6, internalIp: C1, internalPort: 4000, externalPort: 4100, nonce: 'aa'.repeat(12), remoteIp: 0, remotePort: 0, clientPort: 40000, expiresAt },
      { source: 'nat-pmp', opcode: 'map', proto: 17, internalIp: C2, internalPort: 53, externalPort: 5300, nonce: null, remoteIp: 0, remotePort: 0, clientPort: 40001, expiresAt: 0 },
    ],
  });

  it('adopts the live mappings on their old ports and continues the epoch', async () => {
    const t = setup({ saved: saved(1_000_000 - 50_000, 1_000_000 + 60_000) });
    const r = await t.manager.restore(() => true);
    expect(r).toEqual({ adopted: 1, lost: 0, clients: [{ ip: C1, port: 40000 }] }); // the expired one is simply gone
    expect(t.pins.calls).toEqual([`pin 6/${C1}/4000 4100 exact`, `unpin 17/${C2}/53`]);
    expect(t.manager.epoch()).toBe(50);
    expect(t.manager.remaining(t.manager.list()[0]!)).toBe(60);
  });

  it('restarts the epoch at 0 when a mapping could not be taken back', async () => {
    const t = setup({ saved: saved(1_000_000 - 50_000, 1_000_000 + 60_000) });
    t.pins.taken.add('6/4100');
    const r = await t.manager.restore(() => true);
    expect(r).toMatchObject({ adopted: 0, lost: 1 });
    expect(t.manager.epoch()).toBe(0);
    expect(t.stats.removalsOf('lost')).toBe(1);
  });

  it('drops the mappings of endpoints that are gone', async () => {
    const t = setup({ saved: saved(1_000_000 - 50_000, 1_000_000 + 60_000) });
    expect(await t.manager.restore(() => false)).toMatchObject({ adopted: 0, lost: 1 });
    expect(t.pins.calls).toEqual([`unpin 6/${C1}/4000`, `unpin 17/${C2}/53`]); // in case the data plane's tables survived
  });

  it('nothing saved: a new epoch', async () => {
    const t = setup();
    expect(await t.manager.restore(() => true)).toEqual({ adopted: 0, lost: 0, clients: [] });
    expect(t.manager.epoch()).toBe(0);
  });
});
