/**
 * The embedded DNS and IPv6, end to end (issue 13): on a dual-stack network, `dig AAAA` for a
 * container's name (and its alias) answers its IPv6 address, `dig -x` of that address (ip6.arpa)
 * answers its name, a name without IPv6 answers AAAA empty with NOERROR, and a name on another
 * network stays invisible. Queries go to the network's gateway over IPv4, as Docker's resolv.conf
 * points there.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type Daemon, cleanupAll, createNetns, hostAddr, nsExec, pickSubnets, randomHex, startDaemon } from './harness.js';
import { needs, root, tools } from './requirements.js';

const RUN = randomHex(3);
const WEB = `pte6d-${RUN}-web`;
const CLIENT = `pte6d-${RUN}-cli`;
const V4ONLY = `pte6d-${RUN}-v4`;
const OTHER = `pte6d-${RUN}-oth`;
const group = () => (0x8000 | parseInt(randomHex(2), 16)).toString(16);
const ULA = `fd${randomHex(1)}:${group()}:${group()}`;
const FRONT6 = `${ULA}:20::/64`;
const BACK6 = `${ULA}:21::/64`;

needs(root, tools('ip', 'dig')).describe('the embedded DNS with IPv6 (e2e)', () => {
  let d: Daemon;
  let gw4 = '';

  beforeAll(async () => {
    const [F4, B4, V4] = (await pickSubnets(['10.216'], 3)) as [string, string, string];
    gw4 = hostAddr(F4, 1);
    d = await startDaemon();
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', F4, '--subnet', FRONT6, 'front']);
    await d.cliOk(['network', 'create', '--ipv6', '--subnet', B4, '--subnet', BACK6, 'back']);
    await d.cliOk(['network', 'create', '--subnet', V4, 'plain']);
    for (const n of [WEB, CLIENT, V4ONLY, OTHER]) await createNetns(n);
    await d.cliOk(['network', 'connect', '--name', 'web', '--alias', 'www', '--ip6', FRONT6.replace('::/64', '::80'), 'front', WEB]);
    await d.cliOk(['network', 'connect', '--name', 'client', 'front', CLIENT]);
    await d.cliOk(['network', 'connect', '--name', 'other', 'back', OTHER]);
    // a container on a network without IPv6: its name has no IPv6 address
    await d.cliOk(['network', 'connect', '--name', 'legacy', 'plain', V4ONLY]);
  });

  afterAll(async () => {
    const problems = await cleanupAll();
    if (problems.length > 0) console.warn(`cleanup problems:\n${problems.join('\n')}`);
  });

  const dig = async (from: string, server: string, ...q: string[]): Promise<string[]> => {
    const r = await nsExec(from, ['dig', '+short', '+time=2', '+tries=2', `@${server}`, ...q], { timeoutMs: 15_000 });
    expect(r.code, `${r.stdout}${r.stderr}\n${d.logTail(10)}`).toBe(0);
    return r.stdout.split('\n').filter((l) => l.trim() !== '');
  };

  it("dig AAAA gives the container's IPv6 address, for its name and its alias", async () => {
    const web6 = FRONT6.replace('::/64', '::80');
    expect(await dig(CLIENT, gw4, 'AAAA', 'web')).toEqual([web6]);
    expect(await dig(CLIENT, gw4, 'AAAA', 'www')).toEqual([web6]);
    // and A still gives the IPv4 one
    expect((await dig(CLIENT, gw4, 'A', 'web'))[0]).toMatch(/^10\.216\./);
  });

  it('dig -x of an IPv6 address (ip6.arpa) gives the name', async () => {
    expect(await dig(CLIENT, gw4, '-x', FRONT6.replace('::/64', '::80'))).toEqual(['web.']);
  });

  it('a name with no IPv6 address answers AAAA empty (NOERROR); a name on another network is NXDOMAIN', async () => {
    const gwPlain = (await nsExec(V4ONLY, ['ip', '-4', 'route', 'show', 'default'])).stdout.match(/via (\S+)/)![1]!;
    const legacy = await nsExec(V4ONLY, ['dig', '+time=2', '+tries=2', `@${gwPlain}`, 'AAAA', 'legacy'], { timeoutMs: 15_000 });
    expect(legacy.stdout).toMatch(/status: NOERROR/);
    expect(legacy.stdout).toMatch(/ANSWER: 0/);
    const other = await nsExec(CLIENT, ['dig', '+time=2', '+tries=2', `@${gw4}`, 'AAAA', 'other'], { timeoutMs: 15_000 });
    expect(other.stdout).toMatch(/status: NXDOMAIN/);
  });
});
