/**
 * NAT-PMP and PCP end to end: containers behind pontoon learn the uplink's public address and
 * open, renew and close their own ports on it, with Debian's natpmpc and a PCP client written
 * from RFC 6887's wire format (test/e2e/pcp_client.py); far hosts reach what was mapped and only
 * that; `pontoon port`, `pontoon conntrack ls` and /metrics show it; a daemon restart announces
 * itself (tshark decodes the announcements) and keeps the mappings. Needs root.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { cleanupAll, createNetns, hostAddr, nsExec, nsIPv4, packageRoot, parseMetrics, pickSubnets, startCapture, tsharkFields, waitFor } from './harness.js';
import { type Container, FAR_A, type NatWorld, PYTHON, UPLINK_IP, buildNatWorld, cleanupNatWorlds, jsonLines } from './nat-world.js';
import { needs, root, tools } from './requirements.js';

const suite = needs(root, tools('ip', 'curl', 'natpmpc', 'tshark', 'timeout', 'python3'));
const CLIENT = join(packageRoot(), 'test', 'e2e', 'pcp_client.py');
/** the nonce of c1's mappings 5201-5203, renewed across the restart */
const KEPT_NONCE = 'c3'.repeat(12);

interface PcpAnswer {
  timeout?: boolean;
  version?: number;
  opcode?: number;
  result?: string;
  lifetime?: number;
  epoch?: number;
  externalPort?: number;
  externalAddress?: string;
  remoteAddress?: string;
  from?: string;
  raw?: string;
  length?: number;
}

async function pcp(c: Container, gw: string, args: string[]): Promise<PcpAnswer> {
  const r = await nsExec(c.ns, ['timeout', '-s', 'KILL', '15', PYTHON, CLIENT, ...args, '--gw', gw], { timeoutMs: 20_000 });
  if (r.code !== 0) throw new Error(`pcp_client ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as PcpAnswer;
}

async function natpmpc(c: Container, gw: string, args: string[]): Promise<string> {
  const r = await nsExec(c.ns, ['timeout', '-s', 'KILL', '20', 'natpmpc', '-g', gw, ...args], { timeoutMs: 25_000 });
  return r.stdout + r.stderr;
}

async function metric(w: NatWorld, key: string): Promise<number> {
  return parseMetrics(await w.daemon.metrics()).get(key) ?? 0;
}

suite.describe('NAT-PMP and PCP on the gateway', () => {
  let w: NatWorld;
  let c1: Container;
  let c2: Container;
  let gw: string;

  beforeAll(async () => {
    w = await buildNatWorld({ kind: 'tap', nat: { pcp: { enabled: true, maxMappingsPerEndpoint: 4, maxLifetimeSeconds: 120 } } });
    c1 = await w.connect('c1');
    c2 = await w.connect('c2');
    gw = w.gateway;
  }, 120_000);

  afterAll(async () => {
    const problems = [...(await cleanupNatWorlds()), ...(await cleanupAll())];
    if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
  }, 60_000);

  suite.it('natpmpc learns the public address', async () => {
    const out = await natpmpc(c1, gw, []);
    expect(out).toMatch(/Public IP address : 198\.51\.100\.2/);
  }, 60_000);

  suite.it('natpmpc maps a TCP and a UDP port that far hosts reach; pontoon port and conntrack show them; lifetime 0 closes them', async () => {
    const web = await w.httpServer(c1.ns, '0.0.0.0', 4000, w.webRoot('pcp', 'mapped by natpmpc\n'));
    const echo = await w.udpListener(c1.ns, ['0.0.0.0:4001'], true);
    let out = await natpmpc(c1, gw, ['-a', '4000', '4000', 'tcp', '60']);
    expect(out).toMatch(/Mapped public port 4000 protocol TCP to local port 4000 liftime 60/);
    out = await natpmpc(c1, gw, ['-a', '4001', '4001', 'udp', '60']);
    expect(out).toMatch(/Mapped public port 4001 protocol UDP to local port 4001 liftime 60/);

    const page = await w.curl(w.far, `http://${UPLINK_IP}:4000/`);
    expect(page.stdout).toBe('mapped by natpmpc\n');
    const probe = w.udpClient(w.far, { bind: `${FAR_A}:0`, send: [`${UPLINK_IP}:4001:hello`], listenS: 3, count: 1 });
    const got = jsonLines<{ from?: string; data?: string }>((await probe.exited()).stdout).filter((l) => l.data !== undefined);
    expect(got).toEqual([{ from: `${UPLINK_IP}:4001`, data: 'echo:hello' }]);

    const ports = (await w.daemon.cliOk(['port', c1.ns])).stdout;
    expect(ports).toMatch(/^4000\/tcp -> 198\.51\.100\.2:4000 \(nat-pmp, \d+s left\)$/m);
    expect(ports).toMatch(/^4001\/udp -> 198\.51\.100\.2:4001 \(nat-pmp, \d+s left\)$/m);
    const flows = await w.conntrack();
    expect(flows.some((f) => f.proto === 'tcp' && f.orig.src === FAR_A && f.orig.dport === 4000 && f.reply.src === c1.ip)).toBe(true);

    out = await natpmpc(c1, gw, ['-a', '4000', '4000', 'tcp', '0']);
    expect(out).toMatch(/Mapped public port 0 protocol TCP to local port 4000 liftime 0/);
    // a new connection finds no pin: refused (the earlier one's entry may linger, it does not open the port)
    const refused = await w.curl(w.far, `http://${UPLINK_IP}:4000/`);
    expect(refused.code).not.toBe(0);
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).not.toMatch(/4000\/tcp/);
    // private port 0 and lifetime 0: every UDP mapping of the client
    await natpmpc(c1, gw, ['-a', '0', '0', 'udp', '0']);
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).toBe('');
    await web.stop();
    await echo.stop();
  }, 120_000);

  suite.it('a mapping that is not renewed expires: gone from pontoon port, the port closed', async () => {
    const web = await w.httpServer(c1.ns, '0.0.0.0', 4100, w.webRoot('short', 'short-lived\n'));
    expect(await natpmpc(c1, gw, ['-a', '4100', '4100', 'tcp', '2'])).toMatch(/Mapped public port 4100 protocol TCP to local port 4100 liftime 2/);
    expect((await w.curl(w.far, `http://${UPLINK_IP}:4100/`)).stdout).toBe('short-lived\n');
    const expired = await waitFor(async () => !(await w.daemon.cliOk(['port', c1.ns])).stdout.includes('4100/tcp'), 6000, 250);
    expect(expired).toBe(true);
    expect((await w.curl(w.far, `http://${UPLINK_IP}:4100/`)).code).not.toBe(0);
    expect(await metric(w, 'pontoon_pcp_mappings_removed_total{reason="expired"}')).toBe(1);
    await web.stop();
  }, 60_000);

  suite.it('PCP MAP: assigned port, lifetime capped, renewal keeps the port, delete', async () => {
    const nonce = 'a1'.repeat(12);
    const first = await pcp(c1, gw, ['map', '--client', c1.ip, '--proto', 'tcp', '--port', '5000', '--lifetime', '86400', '--nonce', nonce]);
    expect(first).toMatchObject({ version: 2, opcode: 1, result: 'SUCCESS', lifetime: 120, externalPort: 5000, externalAddress: UPLINK_IP, from: `${gw}:5351` });
    const again = await pcp(c1, gw, ['map', '--client', c1.ip, '--proto', 'tcp', '--port', '5000', '--suggest', '6000', '--lifetime', '60', '--nonce', nonce]);
    expect(again).toMatchObject({ result: 'SUCCESS', lifetime: 60, externalPort: 5000 });
    expect(again.epoch!).toBeGreaterThanOrEqual(first.epoch!);
    // another nonce may not touch it
    expect(await pcp(c1, gw, ['map', '--client', c1.ip, '--proto', 'tcp', '--port', '5000', '--lifetime', '0', '--nonce', 'b2'.repeat(12)])).toMatchObject({ result: 'NOT_AUTHORIZED' });
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).toMatch(/^5000\/tcp -> 198\.51\.100\.2:5000 \(pcp, \d+s left\)$/m);
    expect(await pcp(c1, gw, ['map', '--client', c1.ip, '--proto', 'tcp', '--port', '5000', '--lifetime', '0', '--nonce', nonce])).toMatchObject({ result: 'SUCCESS', lifetime: 0 });
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).toBe('');
  }, 60_000);

  suite.it('PCP PEER answers with the outbound mapping of the inside port', async () => {
    const r = await pcp(c1, gw, ['peer', '--client', c1.ip, '--proto', 'udp', '--port', '5100', '--remote', `${FAR_A}:3478`, '--lifetime', '60']);
    expect(r).toMatchObject({ opcode: 2, result: 'SUCCESS', externalAddress: UPLINK_IP, remoteAddress: FAR_A, lifetime: 60 });
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).toMatch(/^5100\/udp -> 198\.51\.100\.2:\d+ \(pcp-peer, \d+s left\)$/m);
  }, 60_000);

  suite.it('PCP errors: UNSUPP_VERSION, MALFORMED_REQUEST, ADDRESS_MISMATCH, NOT_AUTHORIZED for a third party, NO_RESOURCES at the limit', async () => {
    const v1 = await pcp(c1, gw, ['raw', '--hex', `0101${'00'.repeat(58)}`]);
    expect(v1).toMatchObject({ version: 2, result: 'UNSUPP_VERSION', length: 24 });
    // a MAP request one byte too long (not whole 32-bit words)
    expect(await pcp(c1, gw, ['map', '--client', c1.ip, '--port', '5200', '--extra-bytes', '1'])).toMatchObject({ result: 'MALFORMED_REQUEST', length: 60 });
    expect(await pcp(c1, gw, ['map', '--client', c2.ip, '--port', '5200'])).toMatchObject({ result: 'ADDRESS_MISMATCH' });
    expect(await pcp(c1, gw, ['map', '--client', c1.ip, '--port', '5200', '--third-party', c2.ip])).toMatchObject({ result: 'NOT_AUTHORIZED' });
    // the limit is 4: the PEER above holds one
    for (const port of [5201, 5202, 5203]) expect(await pcp(c1, gw, ['map', '--client', c1.ip, '--port', String(port), '--lifetime', '60', '--nonce', KEPT_NONCE])).toMatchObject({ result: 'SUCCESS' });
    const full = await pcp(c1, gw, ['map', '--client', c1.ip, '--port', '5204', '--lifetime', '60']);
    expect(full).toMatchObject({ result: 'NO_RESOURCES', lifetime: 30 });
    expect(await metric(w, 'pontoon_pcp_responses_total{protocol="pcp",result="no_resources"}')).toBeGreaterThanOrEqual(1);
  }, 60_000);

  suite.it('a malformed datagram is dropped and counted; the server still answers', async () => {
    const before = await metric(w, 'pontoon_pcp_dropped_total{reason="short"}');
    expect(await pcp(c1, gw, ['raw', '--hex', '02', '--tries', '1'])).toEqual({ timeout: true });
    await waitFor(async () => (await metric(w, 'pontoon_pcp_dropped_total{reason="short"}')) > before, 5000, 100);
    expect(await metric(w, 'pontoon_pcp_dropped_total{reason="short"}')).toBe(before + 1);
    expect(await pcp(c1, gw, ['announce', '--client', c1.ip])).toMatchObject({ opcode: 0, result: 'SUCCESS', lifetime: 0 });
  }, 60_000);

  suite.it('a container of an internal network is NOT_AUTHORIZED (NAT-PMP result 2)', async () => {
    const subnet = (await pickSubnets('172.31', 1))[0]!;
    await w.daemon.cliOk(['network', 'create', '--subnet', subnet, '--internal', 'pcpint']);
    const ns = await createNetns(`${w.prefix}-int`);
    await w.daemon.cliOk(['network', 'connect', 'pcpint', ns]);
    const ip = (await nsIPv4(ns, 'eth0'))[0]!.split('/')[0]!;
    const c3: Container = { ns, ip };
    const intGw = hostAddr(subnet, 1);
    expect(await pcp(c3, intGw, ['map', '--client', ip, '--port', '8000'])).toMatchObject({ result: 'NOT_AUTHORIZED', lifetime: 1800, from: `${intGw}:5351` });
    expect(await natpmpc(c3, intGw, [])).toMatch(/readnatpmpresponseorretry\(\) failed : not authorized/);
    await w.daemon.cliOk(['network', 'disconnect', 'pcpint', ns]);
    await w.daemon.cliOk(['network', 'rm', 'pcpint']);
  }, 60_000);

  suite.it('disconnecting a container removes its mappings', async () => {
    const web = await w.httpServer(c2.ns, '0.0.0.0', 7000, w.webRoot('c2', 'c2 by PCP\n'));
    expect(await pcp(c2, gw, ['map', '--client', c2.ip, '--proto', 'tcp', '--port', '7000', '--lifetime', '60'])).toMatchObject({ result: 'SUCCESS', externalPort: 7000 });
    expect((await w.curl(w.far, `http://${UPLINK_IP}:7000/`)).stdout).toBe('c2 by PCP\n');
    const held = await metric(w, 'pontoon_pcp_mappings');
    await w.daemon.cliOk(['network', 'disconnect', 'bridge', c2.ns]);
    expect(await metric(w, 'pontoon_pcp_mappings')).toBe(held - 1);
    expect(await metric(w, 'pontoon_pcp_mappings_removed_total{reason="disconnected"}')).toBe(1);
    const refused = await w.curl(w.far, `http://${UPLINK_IP}:7000/`);
    expect(refused.code).not.toBe(0);
    await web.stop();
  }, 60_000);

  suite.it('a daemon restart announces itself (PCP ANNOUNCE, NAT-PMP address) and keeps the mappings and the epoch', async () => {
    const before = await pcp(c1, gw, ['announce', '--client', c1.ip]);
    const kept = await pcp(c1, gw, ['map', '--client', c1.ip, '--proto', 'tcp', '--port', '5201', '--lifetime', '100', '--nonce', KEPT_NONCE]);
    expect(kept).toMatchObject({ result: 'SUCCESS' });
    const file = join(w.dir, 'announce.pcapng');
    const cap = await startCapture(c1.ns, 'eth0', file, 60);
    await w.daemon.restart();
    await new Promise((r) => setTimeout(r, 2500));
    await cap.stop();
    const seen = await tsharkFields(file, 'udp.srcport == 5351', ['ip.src', 'ip.dst', 'nat-pmp.version', 'nat-pmp.opcode', 'nat-pmp.external_ip', 'portcontrol.version', 'portcontrol.opcode', 'portcontrol.result_code']);
    const natPmp = seen.filter((f) => f[1] === '224.0.0.1' && f[2] === '0' && f[3] === '128');
    const announce = seen.filter((f) => f[1] === '224.0.0.1' && f[5] === '2' && f[6] === '0' && f[7] === '0');
    expect(natPmp.length).toBeGreaterThanOrEqual(2);
    expect(natPmp[0]![0]).toBe(gw);
    expect(natPmp[0]![4]).toBe(UPLINK_IP);
    expect(announce.length).toBeGreaterThanOrEqual(2);
    // the unicast ANNOUNCE to the client the saved state knew (at the port it last asked from)
    expect(seen.some((f) => f[0] === gw && f[1] === c1.ip && f[5] === '2' && f[6] === '0')).toBe(true);
    const after = await pcp(c1, gw, ['announce', '--client', c1.ip]);
    expect(after.epoch!).toBeGreaterThanOrEqual(before.epoch! + 2);
    expect((await w.daemon.cliOk(['port', c1.ns])).stdout).toMatch(/^5201\/tcp -> 198\.51\.100\.2:5201 \(pcp, \d+s left\)$/m);
  }, 120_000);
});
