// The live-state file: a restarted data plane adopts the connections, NAT mappings and published
// ports the previous one left in it (translations, expiries and refs as they were), and a file it
// cannot trust — of another kind, version, layout or capacity, truncated, with a bad checksum or
// garbage entries — is set aside with empty tables, never adopted in part.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CtState, CtTuple, Family } from '../../../src/dataplane/conntrack.js';
import { parseIpv6 } from '../../../src/wire/ipv6-address.js';
import { LiveStateFile, type LiveStateReport } from '../../../src/ports/live-state-file.js';
import { TCP_SYN } from '../../../src/wire/tcp.js';
import { A, ACK_C1, ACK_C1_OUT, makeNatWorld, type NatWorld, SYN_C1, SYN_C1_OUT, SYNACK_AT_C1, SYNACK_X10, variant } from '../dataplane/fixture.js';

const CAP = { conntrackMax: 1024, natPortMin: 1024, natPortMax: 65535 };
const WALL = 1_800_000_000_000; // wall-clock ms at the first process's clock 0
const PUBLISH = { proto: 6, hostIp: 0, hostPort: 8080, targetIp: A.c2, targetPort: 80 } as const;

let dir: string;
let path: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pontoon-live-'));
  path = join(dir, 'live-state');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** One daemon start: its file, its data plane on that file's columns, and what it adopted. */
function start(wallBase: number, cap = CAP, extraColumn = false): { file: LiveStateFile; w: NatWorld; report: LiveStateReport } {
  const file = new LiveStateFile(path, cap);
  const w = makeNatWorld({ conntrackMax: cap.conntrackMax, natPortMin: cap.natPortMin, natPortMax: cap.natPortMax }, { tableMemory: file.memory });
  if (extraColumn) file.memory.u8(cap.conntrackMax); // a column another version would have
  const report = file.adopt(w.dp.tables, w.dp.now, wallBase);
  return { file, w, report };
}

/** A first process with one established masquerade connection (c1 → x10:80) and one published port. */
function firstRun(): { w: NatWorld; expires: number } {
  const { file, w, report } = start(WALL);
  expect(report.outcome).toBe('fresh');
  w.dp.control.addPublish(PUBLISH);
  w.dp.receive(w.ids.c1, SYN_C1);
  expect(w.uplink.take()).toEqual([SYN_C1_OUT]);
  w.dp.receive(w.ids.uplink, SYNACK_X10);
  expect(w.c1.take()).toEqual([SYNACK_AT_C1]);
  file.beat();
  const ct = w.dp.tables.conntrack;
  return { w, expires: ct.expires[0] };
}

/** Offset in the file of column i (the header's column table). */
function columnOffset(i: number): number {
  return new DataView(readFileSync(path).buffer).getFloat64(72 + i * 16 + 8, true);
}

function patch(at: number, bytes: number[]): void {
  const b = readFileSync(path);
  for (let i = 0; i < bytes.length; i++) b[at + i] = bytes[i];
  writeFileSync(path, b);
}

/** The second start found nothing it could trust: one set-aside file, empty tables, new flows work. */
function expectSetAside(reason: RegExp): void {
  const { w, report } = start(WALL + 1000);
  expect(report.outcome).toBe('set-aside');
  expect(report.reason).toMatch(reason);
  expect(report.flows + report.mappings + report.published).toBe(0);
  expect(readdirSync(dir).filter((f) => f.startsWith('live-state.bad-'))).toHaveLength(1);
  expect(existsSync(path)).toBe(true);
  const t = w.dp.tables;
  expect(t.conntrack.size).toBe(0);
  expect(t.published.isPublished(6, 8080)).toBe(false);
  w.dp.receive(w.ids.c1, SYN_C1);
  expect(w.uplink.take()).toEqual([SYN_C1_OUT]);
}

describe('live-state adoption', () => {
  it('a restarted data plane carries on the connection with the same translation, its expiry moved onto its own clock', () => {
    const first = firstRun();
    const { w, report } = start(WALL + 30_000); // 30 s later on the wall clock, the same process clock
    expect(report).toMatchObject({ outcome: 'adopted', flows: 1, mappings: 1, published: 1, expired: 0, dropped: 0, generation: 2, previousPid: process.pid });
    expect(report.previousHeartbeat).toBeGreaterThan(0);
    const ct = w.dp.tables.conntrack;
    const e = ct.lookup(6, A.c1, A.x10, 40000, 80, w.dp.now) >> 1;
    expect(e).toBe(0);
    expect(ct.state[e]).toBe(CtState.SynRecv);
    expect(ct.expires[e]).toBe(first.expires - 30_000);
    const maps = w.dp.tables.mappings;
    expect(maps.refs[ct.mapping[e]]).toBe(1);
    expect(maps.byOutside(0, 40000)).toBe(ct.mapping[e]);
    // the connection goes on: the ACK leaves exactly as it would have from the first process
    w.dp.receive(w.ids.c1, ACK_C1);
    expect(w.uplink.take()).toEqual([ACK_C1_OUT]);
    expect(ct.state[e]).toBe(CtState.Established);
    // the published port is adopted, and the control plane's identical re-add is a no-op
    expect(w.dp.tables.published.lookup(6, A.uplink, 8080)).toBeGreaterThanOrEqual(0);
    expect(maps.isFree(0, 8080)).toBe(false);
    expect(() => w.dp.control.addPublish(PUBLISH)).not.toThrow();
    expect(w.dp.control.liveStateRestored()).toBe(0);
    expect(() => w.dp.control.addPublish(PUBLISH)).toThrow('port 8080/tcp is already published');
  });

  it('an IPv6 entry survives the restart too: its four-word addresses, found from both sides', () => {
    const { file, w } = start(WALL);
    const ct = w.dp.tables.conntrack;
    const c1 = parseIpv6('fd00:20::2');
    const x = parseIpv6('2001:db8::1');
    const e = ct.create(new CtTuple().set6Words(6, c1, x, 40000, 80), new CtTuple().set6Words(6, x, c1, 80, 40000), CtState.Established, 0);
    ct.expires[e] = w.dp.now + 600_000;
    file.beat();
    const next = start(WALL + 1000);
    expect(next.report).toMatchObject({ outcome: 'adopted', flows: 1, dropped: 0 });
    const ct2 = next.w.dp.tables.conntrack;
    const slot = ct2.find(new CtTuple().set6Words(6, x, c1, 80, 40000), next.w.dp.now);
    expect(slot).toBe(e * 2 + 1);
    expect(ct2.family[slot >> 1]).toBe(Family.Ipv6);
    expect(ct2.find(new CtTuple().set6Words(6, c1, x, 40000, 80), next.w.dp.now)).toBe(e * 2);
  });

  it('adopts pinned mappings (PCP, NAT-PMP) and the flows from outside through them; pins not pinned again go at the end', () => {
    const { file, w } = start(WALL);
    const ctl = w.dp.control;
    ctl.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 4000, exact: true, open: true });
    ctl.pinMapping({ proto: 17, insideIp: A.c1, insidePort: 5000, outsidePort: 0, exact: false, open: false });
    // a far host opens a connection to the pinned TCP mapping: the entry holds the mapping too
    w.dp.receive(w.ids.uplink, variant(SYNACK_X10, { sport: 50100, dport: 4000, flags: TCP_SYN, ack: 0 }));
    expect(w.c1.take()).toHaveLength(1);
    file.beat();
    const { w: w2, report } = start(WALL + 1000);
    expect(report).toMatchObject({ outcome: 'adopted', flows: 1, mappings: 2, dropped: 0 });
    const maps = w2.dp.tables.mappings;
    const tcp = maps.find(0, A.c1, 4000);
    expect(maps.refs[tcp]).toBe(2); // the pin and the flow
    // the TCP pin is taken back (by the PCP server), the UDP one is not
    expect(w2.dp.control.pinMapping({ proto: 6, insideIp: A.c1, insidePort: 4000, outsidePort: 4000, exact: true, open: true })).toBe(4000);
    expect(w2.dp.control.pinsRestored()).toBe(1);
    expect(maps.find(1, A.c1, 5000)).toBe(-1);
    expect(maps.refs[tcp]).toBe(2);
    // still open to any outside host
    w2.dp.receive(w2.ids.uplink, variant(SYNACK_X10, { src: A.x20, sport: 50101, dport: 4000, flags: TCP_SYN, ack: 0 }));
    expect(w2.c1.take()).toHaveLength(1);
  });

  it('adopted published ports the control plane did not re-add are removed at the end of the restore, and their port freed', () => {
    firstRun();
    const { w, report } = start(WALL + 1000);
    expect(report.published).toBe(1);
    expect(w.dp.control.liveStateRestored()).toBe(1);
    expect(w.dp.tables.published.isPublished(6, 8080)).toBe(false);
    expect(w.dp.tables.mappings.isFree(0, 8080)).toBe(true);
  });

  it('a different rule re-added on an adopted port replaces it', () => {
    firstRun();
    const { w } = start(WALL + 1000);
    w.dp.control.addPublish({ ...PUBLISH, targetPort: 81 });
    expect(w.dp.control.liveStateRestored()).toBe(0);
    const r = w.dp.tables.published.lookup(6, A.uplink, 8080);
    expect(w.dp.tables.published.targetPortOf(r)).toBe(81);
  });

  it('entries that expired while no process ran are not adopted, and their mapping is freed', () => {
    const first = firstRun();
    const later = first.expires + 1; // the SYN_RECV timeout has passed on the wall clock
    const { w, report } = start(WALL + later - w0(first));
    expect(report).toMatchObject({ outcome: 'adopted', flows: 0, mappings: 0, expired: 1, dropped: 0 });
    expect(w.dp.tables.conntrack.size).toBe(0);
    expect(w.dp.tables.mappings.byOutside(0, 40000)).toBe(-1);
  });

  it('a half-written entry (killed inside create, before its timeout was set) and a mapping no entry holds are not adopted', () => {
    const { file, w } = start(WALL);
    const t = w.dp.tables;
    // a flow fully made, then a second one killed half-way: the mapping acquired, the entry created, nothing more
    w.dp.receive(w.ids.c1, SYN_C1);
    const m = t.mappings.acquire(1, A.c2, 5353);
    const half = t.conntrack.create(
      { proto: 17, src: A.c2, dst: A.x10, sport: 5353, dport: 53 } as never,
      { proto: 17, src: A.x10, dst: A.uplink, sport: 53, dport: 5353 } as never,
      0,
      4,
    );
    expect(half).toBeGreaterThan(0);
    expect(m).toBeGreaterThanOrEqual(0);
    file.beat();
    const { w: w2, report } = start(WALL + 100);
    expect(report).toMatchObject({ outcome: 'adopted', flows: 1, mappings: 1, expired: 1, dropped: 0 });
    expect(w2.dp.tables.mappings.find(1, A.c2, 5353)).toBe(-1);
    expect(w2.dp.tables.conntrack.lookup(17, A.c2, A.x10, 5353, 53, w2.dp.now)).toBe(-1);
  });

  it('an entry that contradicts its mapping, and one whose tuple another entry holds, are dropped and counted', () => {
    firstRun();
    // a second entry copied from the first (same tuples, same mapping): a duplicate
    const pr = columnOffset(0);
    const b = readFileSync(path);
    const copyEntry = (col: number, width: number) => {
      const at = columnOffset(col);
      b.copy(b, at + width, at, at + width);
    };
    // per-entry columns: proto, state, flags (1 byte), expires (8), mapping (4); per direction: src, dst (4), sport, dport (2)...
    [1, 1, 1, 8, 4].forEach((w, i) => copyEntry(i, w));
    [8, 8, 4, 4, 8, 8, 2, 8, 16, 16].forEach((w, i) => copyEntry(5 + i, w));
    expect(b[pr + 1]).toBe(6);
    writeFileSync(path, b);
    const { report } = start(WALL + 100);
    expect(report).toMatchObject({ outcome: 'adopted', flows: 1, mappings: 1, dropped: 1 });
    // now the mapping's outside port does not match its entry's reply tuple
    const { report: r3 } = (() => {
      const c = readFileSync(path);
      const outPort = columnOffset(3 + 15); // NatMappings.outPort: after conntrack's 15 columns, cls, inIp, inPort
      c.writeUInt16LE(40001, outPort);
      writeFileSync(path, c);
      return start(WALL + 200);
    })();
    expect(r3).toMatchObject({ outcome: 'adopted', flows: 0, mappings: 0, dropped: 1 });
  });
});

describe('a live-state file that cannot be trusted is set aside', () => {
  it('not a live-state file at all (other magic)', () => {
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    expectSetAside(/magic/);
  });

  it('another format version', () => {
    firstRun();
    patch(4, [2, 0, 0, 0]);
    expectSetAside(/^format version 2, this daemon reads 1$/);
  });

  it('another table layout (a column added by another version)', () => {
    const { file } = start(WALL, CAP, true);
    file.beat();
    expectSetAside(/table layout differs/);
  });

  it('another capacity (conntrack.max changed)', () => {
    firstRun();
    const { report } = start(WALL + 1000, { ...CAP, conntrackMax: 2048 });
    expect(report).toMatchObject({ outcome: 'set-aside', reason: 'conntrack.max 1024, configured 2048', flows: 0 });
  });

  it('another NAT port range', () => {
    firstRun();
    const { report } = start(WALL + 1000, { ...CAP, natPortMin: 20000 });
    expect(report).toMatchObject({ outcome: 'set-aside', reason: 'NAT port range 1024-65535, configured 20000-65535' });
  });

  it('truncated inside the header', () => {
    firstRun();
    truncateSync(path, 100);
    expectSetAside(/^truncated \(100 bytes\)$/);
  });

  it('truncated after the header (a torn write)', () => {
    firstRun();
    truncateSync(path, readFileSync(path).length - 4096);
    expectSetAside(/torn write/);
  });

  it('a header checksum mismatch', () => {
    firstRun();
    patch(36, [0xff]); // the writer's pid
    expectSetAside(/^header checksum mismatch$/);
  });

  it('keeps only the two newest files set aside', () => {
    for (let i = 0; i < 4; i++) {
      writeFileSync(path, Buffer.alloc(8192, 0x41 + i));
      const { report } = start(WALL);
      expect(report.outcome).toBe('set-aside');
    }
    const aside = readdirSync(dir).filter((f) => f.startsWith('live-state.bad-'));
    expect(aside).toHaveLength(2);
    // the newest: the last garbage written
    expect(readFileSync(join(dir, aside.sort()[1]!))[0]).toBe(0x44);
  });

  it('garbage entries under a good header', () => {
    firstRun();
    const b = readFileSync(path);
    const proto = columnOffset(0);
    for (let i = 0; i < 1024; i++) b[proto + i] = (i * 37 + 11) & 0xff || 1;
    const expires = columnOffset(3);
    for (let i = 0; i < 1024; i++) b.writeDoubleLE(2e15, expires + i * 8);
    writeFileSync(path, b);
    expectSetAside(/entries do not validate/);
  });
});

/** The first process's clock at the start of its world (the fixture sets dp.now). */
function w0(first: { w: NatWorld }): number {
  return first.w.dp.now;
}
