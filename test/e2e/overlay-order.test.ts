/**
 * Order and loss across an overlay, against the kernel doing the same job in the same run: two
 * pontoon hosts (static peers) and two hosts with Linux's own VXLAN (vxlan + bridge + veth, what
 * Docker's overlay driver and flannel build) share one underlay bridge. The same bulk TCP transfer
 * crosses each; both ends are captured, and the receiver's kernel counts what reached it out of
 * order (TcpExtTCPOFOQueue), the sender's what it sent again (iperf3's retransmits,
 * TcpRetransSegs). pontoon must not reorder (tshark finds no out-of-order segment in the receiver's
 * capture, the OFO count is no higher than the kernel path's) and must retransmit no more than the
 * kernel path does. Needs root, iperf3, tshark, ethtool.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanupAll, cidrsOverlap, hostAddr, nsExec, nsExecOk, pickSubnets, randomHex, startCapture, tsharkFields, waitFor } from './harness.js';
import { cleanupNatWorlds, parseIperf, startBackground } from './nat-world.js';
import { type OverlayWorld, buildOverlayWorld, captureFile, cleanupOverlayWorlds } from './overlay-world.js';
import { needs, root, tools } from './requirements.js';

/** bytes per transfer: enough for the sender to fill its window many times, few enough to capture every segment */
const TRANSFER = '48M';

interface Path {
  name: string;
  sender: string;
  receiver: string;
  receiverIp: string;
}

interface Outcome {
  gbits: number;
  retransmits: number;
  retransSegs: number;
  ofoQueued: number;
  outOfOrderInCapture: number;
  capturedSegments: number;
}

/** One kernel counter (nstat -a: since boot of the namespace) inside a namespace. */
async function nstat(ns: string, name: string): Promise<number> {
  const r = await nsExecOk(ns, ['nstat', '-az', name]);
  const m = new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(r.stdout);
  return m === null ? 0 : Number(m[1]);
}

/** A bulk transfer across `p`, with the receiver's end captured. */
async function transfer(p: Path): Promise<Outcome> {
  const server = startBackground(p.receiver, ['iperf3', '-s', '-1', '-B', p.receiverIp, '-p', '5201'], 60);
  try {
    const listening = await waitFor(async () => /:5201\b/.test((await nsExec(p.receiver, ['ss', '-Hltn'])).stdout), 10_000, 100);
    expect(listening, server.stderr()).toBe(true);
    const file = captureFile(`${p.name}-rx`);
    // headers are enough to follow sequence numbers; a large buffer, so the capture keeps up
    const cap = await startCapture(p.receiver, 'eth0', file, 40, { snaplen: 128, bufferMiB: 64 });
    const ofo0 = await nstat(p.receiver, 'TcpExtTCPOFOQueue');
    const rs0 = await nstat(p.sender, 'TcpRetransSegs');
    const r = await nsExec(p.sender, ['timeout', '-s', 'KILL', '30', 'iperf3', '-c', p.receiverIp, '-p', '5201', '-n', TRANSFER, '-J', '--connect-timeout', '3000'], {
      timeoutMs: 35_000,
    });
    const ofo1 = await nstat(p.receiver, 'TcpExtTCPOFOQueue');
    const rs1 = await nstat(p.sender, 'TcpRetransSegs');
    const stopped = await cap.stop();
    const res = parseIperf(r.stdout);
    expect(res.error, r.stdout.slice(0, 2000)).toBeUndefined();
    // data segments towards the receiver, in capture order
    const rows = await tsharkFields(file, `tcp.dstport == 5201 && tcp.len > 0`, ['tcp.seq_raw', 'tcp.len', 'tcp.analysis.out_of_order']);
    let ooo = 0;
    for (const [, , flag] of rows) if (flag !== undefined && flag !== '') ooo++;
    expect(stopped.stderr, 'the capture lost nothing').not.toMatch(/[1-9]\d* packets? dropped/);
    return {
      gbits: (res.end?.sum_received?.bits_per_second ?? 0) / 1e9,
      retransmits: res.end?.sum_sent?.retransmits ?? 0,
      retransSegs: rs1 - rs0,
      ofoQueued: ofo1 - ofo0,
      outOfOrderInCapture: ooo,
      capturedSegments: rows.length,
    };
  } finally {
    await server.stop();
  }
}

needs(root, tools('ip', 'ping', 'tshark', 'iperf3', 'ethtool', 'nstat', 'ss', 'timeout')).describe('order and loss across an overlay, pontoon against the kernel VXLAN in the same run', () => {
  let w: OverlayWorld;
  let pontoon: Path;
  let kernel: Path;

  beforeAll(async () => {
    w = await buildOverlayWorld({ store: 'none' });
    const [subnet, ksubnet] = await pickSubnets(['10.213', '10.214', '172.28'], 2);
    if (cidrsOverlap(subnet!, w.subnet) || cidrsOverlap(ksubnet!, w.subnet)) throw new Error('overlay subnets overlap the underlay');
    const ipA = w.underlayAddr(10);
    const ipB = w.underlayAddr(11);
    const A = await w.addHost('a', { peers: [ipB] });
    const B = await w.addHost('b', { peers: [ipA] });
    const vni = 6000 + (parseInt(randomHex(2), 16) % 1000);
    const net = `ord-${randomHex(2)}`;
    await A.daemon.cliOk(['network', 'create', '-d', 'overlay', '--subnet', subnet!, '--ip-range', `${hostAddr(subnet!, 64)}/26`, '--vni', String(vni), net]);
    await B.daemon.cliOk(['network', 'create', '-d', 'overlay', '--subnet', subnet!, '--ip-range', `${hostAddr(subnet!, 128)}/26`, '--vni', String(vni), net]);
    const ca = await w.connect(A, 'ca', net);
    const cb = await w.connect(B, 'cb', net);
    const reachable = await waitFor(async () => (await nsExec(ca.ns, ['ping', '-c', '1', '-W', '1', cb.ip])).code === 0, 15_000, 300);
    expect(reachable, `${A.daemon.logTail(20)}\n${B.daemon.logTail(20)}`).toBe(true);
    pontoon = { name: 'pontoon', sender: ca.ns, receiver: cb.ns, receiverIp: cb.ip };

    const kvni = vni + 1000;
    // kernel peers take the underlay's .20, .21, ... in order
    const k1 = w.underlayAddr(20);
    const k2 = w.underlayAddr(21);
    const K1 = await w.addKernelPeer(kvni, `${hostAddr(ksubnet!, 2)}/24`, [k2], '1');
    const K2 = await w.addKernelPeer(kvni, `${hostAddr(ksubnet!, 3)}/24`, [k1], '2');
    expect([K1.ip, K2.ip]).toEqual([k1, k2]);
    const kReachable = await waitFor(async () => (await nsExec(K1.container.ns, ['ping', '-c', '1', '-W', '1', K2.container.ip])).code === 0, 15_000, 300);
    expect(kReachable).toBe(true);
    kernel = { name: 'kernel', sender: K1.container.ns, receiver: K2.container.ns, receiverIp: K2.container.ip };
  }, 120_000);

  afterAll(async () => {
    await cleanupOverlayWorlds();
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    expect(problems).toEqual([]);
  }, 60_000);

  it('the receiver sees no segment out of order and the sender retransmits no more than over the kernel VXLAN', async () => {
    const k = await transfer(kernel);
    const p = await transfer(pontoon);
    console.log(`overlay ${TRANSFER}: kernel ${JSON.stringify(k)}; pontoon ${JSON.stringify(p)}`);
    expect(p.capturedSegments).toBeGreaterThan(0);
    expect(p.outOfOrderInCapture).toBeLessThanOrEqual(k.outOfOrderInCapture);
    expect(p.ofoQueued).toBeLessThanOrEqual(k.ofoQueued);
    // the kernel path's level: no more than it had, or a handful when it happened to have none
    // (before the fix pontoon retransmitted thousands of segments per run)
    expect(p.retransmits).toBeLessThanOrEqual(Math.max(k.retransmits, 5));
    expect(p.retransSegs).toBeLessThanOrEqual(Math.max(k.retransSegs, 5));
  }, 120_000);
});
