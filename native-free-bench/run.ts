// `npm run bench`: synthetic frames through the real pipeline (the code the daemon runs) over
// in-memory ports. No root, no devices. Prints packets per second, ns per packet and bytes
// allocated per packet for each scenario; `--json` prints one JSON object instead.

import { PerformanceObserver } from 'node:perf_hooks';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { MemoryPort } from '../src/ports/memory-port.js';
import { parseIpv4 } from '../src/wire/ipv4-address.js';
import { parseMac } from '../src/wire/mac.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

interface Scenario {
  name: string;
  port: 'c1' | 'host';
  frame: Buffer;
  /** the port the frame must come out of (checked once before timing) */
  expect: 'c2' | 'host' | 'c1';
}

const SCENARIOS: Scenario[] = [
  {
    name: 'l2_switching',
    port: 'c1',
    frame: hex('0242ac1100030242ac110002080045000030123440004001d071ac110002ac1100030800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
    expect: 'c2',
  },
  {
    name: 'l3_routing_to_host',
    port: 'c1',
    frame: hex('0250000000010242ac110002080045000021000700004011c3b3ac1100020afe000104d2162e000de9ef68656c6c6f'),
    expect: 'host',
  },
  {
    name: 'l3_routing_from_host',
    port: 'host',
    frame: hex('4500002400094000400183be0afe0001ac11000208006663000500026162636465666768'),
    expect: 'c1',
  },
  {
    name: 'icmp_echo_to_gateway',
    port: 'c1',
    frame: hex('0250000000010242ac110002080045000030123440004001d073ac110002ac1100010800ff7800770001706f6e746f6f6e2d70696e672d7061796c6f6164'),
    expect: 'c1',
  },
];

function world() {
  const dp = new Dataplane({ poolSlots: 256 });
  dp.now = 1;
  dp.addNetwork({
    index: 0,
    name: 'bridge',
    subnet: parseIpv4('172.17.0.0'),
    prefixLen: 16,
    gatewayIp: parseIpv4('172.17.0.1'),
    gatewayMac: parseMac('02:50:00:00:00:01'),
    mtu: 1500,
    internal: false,
  });
  const ports = { host: new MemoryPort(), c1: new MemoryPort(), c2: new MemoryPort() };
  const ids = {
    host: dp.addHostPort(
      { name: 'host', hostIp: parseIpv4('10.254.0.1'), gatewayIp: parseIpv4('10.254.0.2'), prefixLen: 30, mtu: 1500, defaultRoute: true },
      ports.host,
    ).id,
    c1: dp.addEndpoint({ name: 'c1', network: 0, mac: parseMac('02:42:ac:11:00:02'), ip: parseIpv4('172.17.0.2') }, ports.c1).id,
    c2: dp.addEndpoint({ name: 'c2', network: 0, mac: parseMac('02:42:ac:11:00:03'), ip: parseIpv4('172.17.0.3') }, ports.c2).id,
  };
  return { dp, ports, ids };
}

let gcCount = 0;
new PerformanceObserver((list) => {
  gcCount += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const BATCH = 64;

/** Runs `n` frames as the worker does: copy into a pool slot (the read), input, end of batch every 64. */
function run(dp: Dataplane, portId: number, frame: Buffer, tun: boolean, n: number): void {
  const pool = dp.pool;
  const slab = pool.slab;
  const len = frame.length;
  for (let i = 0; i < n; ) {
    for (let k = 0; k < BATCH && i < n; k++, i++) {
      const off = pool.alloc();
      const at = tun ? off + 14 : off;
      frame.copy(slab, at);
      dp.input(portId, slab, at, len);
    }
    dp.endBatch();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

interface Result {
  pps: number;
  nsPerPacket: number;
  bytesAllocatedPerPacket: number;
}

function measure(sc: Scenario, packets: number, rounds: number): Result {
  const { dp, ports, ids } = world();
  for (const p of Object.values(ports)) p.take();
  // correctness first: the frame must come out where expected
  dp.receive(ids[sc.port], sc.frame);
  const out = ports[sc.expect].take();
  if (out.length !== 1) throw new Error(`${sc.name}: expected one frame on ${sc.expect}, got ${out.length}`);
  for (const p of Object.values(ports)) {
    p.keep = false;
    p.take();
  }
  const tun = sc.port === 'host';
  run(dp, ids[sc.port], sc.frame, tun, 200_000); // warm-up: optimise the hot path
  const times: number[] = [];
  const allocs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const gc0 = gcCount;
    const heap0 = process.memoryUsage().heapUsed;
    const t0 = process.hrtime.bigint();
    run(dp, ids[sc.port], sc.frame, tun, packets);
    const t1 = process.hrtime.bigint();
    const heap1 = process.memoryUsage().heapUsed;
    times.push(Number(t1 - t0) / packets);
    if (gcCount === gc0) allocs.push(Math.max(0, heap1 - heap0) / packets); // rounds with a GC say nothing about allocation
  }
  const ns = median(times);
  return { pps: Math.round(1e9 / ns), nsPerPacket: Math.round(ns * 10) / 10, bytesAllocatedPerPacket: allocs.length > 0 ? Math.round(median(allocs) * 100) / 100 : NaN };
}

const json = process.argv.includes('--json');
const packets = Number(process.env.BENCH_PACKETS ?? 1_000_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 7);
const results: Record<string, Result> = {};
for (const sc of SCENARIOS) results[sc.name] = measure(sc, packets, rounds);
if (json) {
  console.log(JSON.stringify({ node: process.version, packetsPerRound: packets, rounds, results }));
} else {
  console.log(`pontoon native-free benchmark: ${packets} packets x ${rounds} rounds per scenario (median), node ${process.version}`);
  console.log('SCENARIO                 PACKETS/S     NS/PACKET   BYTES ALLOCATED/PACKET');
  for (const [name, r] of Object.entries(results)) {
    console.log(`${name.padEnd(24)} ${String(r.pps).padStart(10)}  ${String(r.nsPerPacket).padStart(10)}   ${String(r.bytesAllocatedPerPacket).padStart(10)}`);
  }
}
