/**
 * Docker's legacy links end to end (`pontoon network connect --link db:dbalias`): on one
 * dual-stack network with containers db, web (linked to db as dbalias) and other, `dig` and
 * `getent` inside web resolve dbalias (A and AAAA) and db to db's addresses, while from other
 * dbalias is NXDOMAIN; `network inspect` shows the link on web's entry; a link to a container that
 * is not on the network, or a malformed one, is refused in one line; after `network disconnect` of
 * db the alias resolves no more, and again once db is back; after `kill -9` of the daemon and a
 * start with the same config the link is kept. Every namespace, device and daemon is this test's
 * own (prefix lk + random hex). Needs root.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Daemon, type NetworkResource, cleanupAll, createNetns, hostAddr, nsExec, pickSubnets, randomHex, startDaemon } from './harness.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const DB = `lk${RUN}-db`;
const WEB = `lk${RUN}-web`;
const OTHER = `lk${RUN}-oth`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const NET6 = `fd${randomHex(1)}:${group()}:${group()}:19::/64`;

interface Dig {
  status: string;
  answers: string[];
}

type Endpoint = NetworkResource['Containers'][string] & { Links?: string[]; IPv6Address?: string };

needs(root, tools('ip', 'dig', 'getent')).describe('legacy links: network connect --link (e2e)', () => {
  let d: Daemon;
  let gw = '';
  const addr: Record<string, { v4: string; v6: string }> = {};

  /** `dig @gateway` inside a namespace, one bounded try: the status and the answers. */
  async function dig(netns: string, ...q: string[]): Promise<Dig> {
    const r = await nsExec(netns, ['dig', `@${gw}`, '+time=3', '+tries=1', '+noall', '+comments', '+answer', ...q], { timeoutMs: 10_000 });
    const status = /status: ([A-Z]+)/.exec(r.stdout)?.[1] ?? `none (exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}; daemon: ${d.logTail(5)})`;
    const answers = r.stdout
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith(';'))
      .map((l) => l.trim().split(/\s+/).slice(-1)[0]!);
    return { status, answers };
  }

  async function endpoints(): Promise<Record<string, Endpoint>> {
    const net = await d.inspect('linknet');
    return Object.fromEntries(Object.values(net.Containers).map((c) => [c.Name, c as Endpoint]));
  }

  async function connect(netns: string, name: string, extra: string[] = []): Promise<void> {
    await d.cliOk(['network', 'connect', '--name', name, ...extra, 'linknet', netns]);
    const ep = (await endpoints())[name]!;
    addr[name] = { v4: ep.IPv4Address.split('/')[0]!, v6: ep.IPv6Address!.split('/')[0]! };
  }

  beforeAll(async () => {
    const [net4] = (await pickSubnets(['10.219', '172.25'], 1)) as [string];
    gw = hostAddr(net4, 1);
    d = await startDaemon({ devicePrefix: `lk${randomHex(2)}` });
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', net4, '--subnet', NET6, 'linknet']);
    for (const ns of [DB, WEB, OTHER]) await createNetns(ns);
    await connect(DB, 'db');
    await connect(WEB, 'web', ['--link', 'db:dbalias']);
    await connect(OTHER, 'other');
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    // the resolv.conf files pontoon wrote for our namespaces (a daemon killed mid-test leaves them)
    for (const ns of [DB, WEB, OTHER]) rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
  });

  it("resolves the alias and the linked container's name from the linking container: A and AAAA, dig and getent", async () => {
    expect(await dig(WEB, 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
    expect(await dig(WEB, 'AAAA', 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v6] });
    expect(await dig(WEB, 'db')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
    expect(await dig(WEB, '+tcp', 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
    // the libc resolver, through the resolv.conf pontoon wrote for web
    const g = await nsExec(WEB, ['getent', 'ahostsv4', 'dbalias'], { timeoutMs: 15_000 });
    expect(g.code, g.stdout + g.stderr).toBe(0);
    expect(g.stdout.split('\n')[0]!.split(/\s+/)[0]).toBe(addr.db!.v4);
  });

  it('answers NXDOMAIN for the alias to another container of the network, and to the linked one', async () => {
    expect((await dig(OTHER, 'dbalias')).status).toBe('NXDOMAIN');
    expect((await dig(OTHER, 'AAAA', 'dbalias')).status).toBe('NXDOMAIN');
    expect((await dig(DB, 'dbalias')).status).toBe('NXDOMAIN');
    expect((await nsExec(OTHER, ['getent', 'ahostsv4', 'dbalias'], { timeoutMs: 15_000 })).code).not.toBe(0);
    // the names of the network resolve for everyone
    expect(await dig(OTHER, 'db')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
  });

  it("shows the link on the linking container's entry in network inspect, as Docker prints it", async () => {
    const eps = await endpoints();
    expect(eps.web!.Links).toEqual(['db:dbalias']);
    expect(eps.db!.Links).toBeUndefined();
    expect(eps.other!.Links).toBeUndefined();
  });

  it('refuses a link to a container not on the network, and a malformed one, in one line, changing nothing', async () => {
    const before = Object.keys(await endpoints()).sort();
    const ns = await createNetns(`lk${RUN}-bad`);
    const missing = await d.cli(['network', 'connect', '--link', 'nope:x', 'linknet', ns]);
    expect(missing).toEqual({ code: 1, stdout: '', stderr: 'Error: could not get container for nope: no container nope on network linknet\n' });
    const malformed = await d.cli(['network', 'connect', '--link', 'db:a:b', 'linknet', ns]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.split('\n')[0]).toBe("error: option '--link <container[:alias]>' argument 'db:a:b' is invalid. bad format for links (expected CONTAINER[:ALIAS]).");
    const label = await d.cli(['network', 'connect', '--link', 'db:a.b', 'linknet', ns]);
    expect(label.code).toBe(2);
    expect(Object.keys(await endpoints()).sort()).toEqual(before);
    expect((await nsExec(ns, ['ip', '-o', 'link', 'show'])).stdout.trim().split('\n')).toHaveLength(1); // lo alone
  });

  it('breaks the link when the linked container disconnects, and mends it when it comes back', async () => {
    await d.cliOk(['network', 'disconnect', 'linknet', DB]);
    expect((await dig(WEB, 'dbalias')).status).toBe('NXDOMAIN');
    expect((await dig(WEB, 'AAAA', 'dbalias')).status).toBe('NXDOMAIN');
    expect((await endpoints()).web!.Links).toEqual(['db:dbalias']);
    await connect(DB, 'db');
    expect(await dig(WEB, 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
    expect((await dig(OTHER, 'dbalias')).status).toBe('NXDOMAIN');
  });

  it('keeps the link across kill -9 of the daemon and a restart', async () => {
    await d.kill9();
    await d.restart();
    expect(await dig(WEB, 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v4] });
    expect(await dig(WEB, 'AAAA', 'dbalias')).toEqual({ status: 'NOERROR', answers: [addr.db!.v6] });
    expect((await dig(OTHER, 'dbalias')).status).toBe('NXDOMAIN');
    expect((await endpoints()).web!.Links).toEqual(['db:dbalias']);
  });
});
