import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addHostRoute, configureHostDevice, deleteHostRoute } from '../../../src/control/host-link.js';
import {
  configureInterface,
  deleteLink,
  interfaceNames,
  netnsStillExists,
  nextInterfaceName,
  resolveNetns,
  runInNetns,
} from '../../../src/control/netns.js';
import { failure } from './api-failure.js';


describe('resolveNetns errors', () => {
  it('reports a missing named namespace', () => {
    expect(failure(() => resolveNetns('pt-missing-c9'))).toEqual({
      status: 404,
      message: 'network namespace "pt-missing-c9" not found (no /run/netns/pt-missing-c9)',
    });
  });

  it('reports a missing process', () => {
    expect(failure(() => resolveNetns('999999999'))).toEqual({
      status: 404,
      message: 'network namespace of process 999999999 not found (no /proc/999999999/ns/net)',
    });
  });

  it('refuses files that are not network namespaces', () => {
    expect(failure(() => resolveNetns('/etc/passwd'))).toEqual({ status: 400, message: '"/etc/passwd" is not a network namespace' });
    expect(failure(() => resolveNetns('/proc/self/ns/uts'))).toEqual({
      status: 400,
      message: '"/proc/self/ns/uts" is not a network namespace',
    });
  });

  it('refuses relative paths and odd names', () => {
    expect(failure(() => resolveNetns('a/b')).message).toBe(
      'invalid network namespace "a/b": give a name from "ip netns", an absolute path or a PID',
    );
    expect(failure(() => resolveNetns('..')).status).toBe(400);
  });

  it('resolves a PID and a /proc path', () => {
    const pid = String(process.pid);
    const ref = resolveNetns(pid);
    expect(ref).toMatchObject({ arg: pid, path: `/proc/${pid}/ns/net`, name: `pid-${pid}` });
    expect(resolveNetns(`/proc/${pid}/ns/net`)).toMatchObject({ name: `pid-${pid}`, ino: ref.ino, dev: ref.dev });
    expect(resolveNetns('/proc/self/ns/net')).toMatchObject({ name: '/proc/self/ns/net', ino: ref.ino });
  });
});

describe('in a real network namespace', () => {
  const ns = `pt-ut-${randomBytes(4).toString('hex')}`;
  const path = `/run/netns/${ns}`;

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    // dummy links need the dummy module, which this kernel may lack: a veth pair inside the namespace works everywhere
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ptpeer0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ptpeer0', 'up']);
  });

  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('resolves the name', () => {
    const ref = resolveNetns(ns);
    expect(ref).toMatchObject({ arg: ns, path, name: ns });
    expect(resolveNetns(path)).toMatchObject({ name: ns, ino: ref.ino });
    expect(netnsStillExists(ref)).toBe(true);
    expect(netnsStillExists({ ...ref, ino: ref.ino + 1 })).toBe(false);
    expect(netnsStillExists({ ...ref, path: '/run/netns/pt-none' })).toBe(false);
  });

  it('finds the next free ethN', async () => {
    expect((await interfaceNames(path)).sort()).toEqual(['eth0', 'lo', 'ptpeer0']);
    expect(await nextInterfaceName(path)).toBe('eth1');
  });

  it('configures the interface and the default route once', async () => {
    await configureInterface(path, 'eth0', { mac: '02:42:ac:11:00:02', cidr: '172.17.0.2/16', mtu: 1400, gateway: '172.17.0.1' });
    const link = JSON.parse(await runInNetns(path, ['ip', '-j', 'addr', 'show', 'dev', 'eth0']))[0];
    expect(link.address).toBe('02:42:ac:11:00:02');
    expect(link.mtu).toBe(1400);
    expect(link.flags).toContain('UP');
    expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toContain('172.17.0.2/16');
    const lo = JSON.parse(await runInNetns(path, ['ip', '-j', 'link', 'show', 'dev', 'lo']))[0];
    expect(lo.flags).toContain('UP');

    // a second network keeps the first default route; running again is harmless
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'ptpeer1']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ptpeer1', 'up']);
    await configureInterface(path, 'eth1', { mac: '02:42:0a:01:00:02', cidr: '10.1.0.2/24', mtu: 1500, gateway: '10.1.0.1' });
    await configureInterface(path, 'eth0', { mac: '02:42:ac:11:00:02', cidr: '172.17.0.2/16', mtu: 1400, gateway: '172.17.0.1' });
    const routes = JSON.parse(await runInNetns(path, ['ip', '-j', 'route', 'show', 'default']));
    expect(routes).toEqual([expect.objectContaining({ dst: 'default', gateway: '172.17.0.1', dev: 'eth0' })]);
  });

  it('reports the failing command', async () => {
    await expect(
      configureInterface(path, 'eth9', { mac: '02:42:ac:11:00:09', cidr: '172.17.0.9/16', mtu: 1500, gateway: null }),
    ).rejects.toThrow(`cannot configure eth9 in ${path}: ip link set dev eth9 address 02:42:ac:11:00:09 mtu 1500: Cannot find device "eth9"`);
  });

  it('deletes links, ignoring missing ones', async () => {
    await deleteLink(path, 'eth1');
    await deleteLink(path, 'eth1');
    expect(await interfaceNames(path)).not.toContain('eth1');
    expect(await nextInterfaceName(path)).toBe('eth1');
  });

  it('runInNetns rejects with the first line of stderr', async () => {
    await expect(runInNetns(path, ['ip', 'link', 'show', 'dev', 'nothere'])).rejects.toThrow(/Device "nothere" does not exist/);
  });
});

describe('an interface with IPv6, in a real network namespace', () => {
  const ns = `pt-ut6-${randomBytes(4).toString('hex')}`;
  const path = `/run/netns/${ns}`;

  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'ptpeer0']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ptpeer0', 'up']);
    // IPv6 switched off on the interface: configureInterface switches it on
    execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.eth0.disable_ipv6=1']);
  });

  afterAll(() => {
    execFileSync('ip', ['netns', 'del', ns]);
  });

  const v6addrs = async () => {
    const link = JSON.parse(await runInNetns(path, ['ip', '-j', '-6', 'addr', 'show', 'dev', 'eth0']))[0] as {
      addr_info: { local: string; prefixlen: number; scope: string; nodad?: boolean; tentative?: boolean; dadfailed?: boolean }[];
    };
    return link.addr_info.map((a) => ({ addr: `${a.local}/${a.prefixlen}`, scope: a.scope, nodad: a.nodad === true, tentative: a.tentative === true }));
  };

  it('adds the address without DAD, the EUI-64 link-local and the default route via fe80::1, once', async () => {
    const config = { mac: '02:42:ac:14:00:02', cidr: '172.20.0.2/16', mtu: 1500, gateway: '172.20.0.1', ipv6: { cidr: 'fd00:20::2/64', gateway: 'fe80::1' } };
    await configureInterface(path, 'eth0', config);
    const addrs = await v6addrs();
    expect(addrs.find((a) => a.scope === 'global')).toEqual({ addr: 'fd00:20::2/64', scope: 'global', nodad: true, tentative: false });
    expect(addrs.find((a) => a.scope === 'link')?.addr).toBe('fe80::42:acff:fe14:2/64');
    const route6 = async () => JSON.parse(await runInNetns(path, ['ip', '-j', '-6', 'route', 'show', 'default'])) as unknown[];
    expect(await route6()).toEqual([expect.objectContaining({ dst: 'default', gateway: 'fe80::1', dev: 'eth0' })]);
    // again (a restart re-configures the interface): harmless
    await configureInterface(path, 'eth0', config);
    expect((await v6addrs()).filter((a) => a.scope === 'global')).toHaveLength(1);
    expect(await route6()).toHaveLength(1);
    // a second network keeps the first IPv6 default route; an internal one adds none
    execFileSync('ip', ['-n', ns, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'ptpeer1']);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'ptpeer1', 'up']);
    await configureInterface(path, 'eth1', { mac: '02:42:ac:15:00:02', cidr: '172.21.0.2/16', mtu: 1500, gateway: null, ipv6: { cidr: 'fd00:21::2/64', gateway: 'fe80::1' } });
    expect(await route6()).toEqual([expect.objectContaining({ gateway: 'fe80::1', dev: 'eth0' })]);
  });
});

describe('host link', () => {
  // a tap device of our own on the host, removed afterwards
  const dev = `ptut${randomBytes(3).toString('hex')}`;

  beforeAll(() => {
    execFileSync('ip', ['tuntap', 'add', 'dev', dev, 'mode', 'tap']);
  });

  afterAll(() => {
    execFileSync('ip', ['link', 'del', 'dev', dev]);
  });

  it('configures the device and adds and deletes routes through it', async () => {
    await configureHostDevice(dev, '10.253.77.1/30', 1400);
    await configureHostDevice(dev, '10.253.77.1/30', 1400); // idempotent
    const link = JSON.parse(execFileSync('ip', ['-j', 'addr', 'show', 'dev', dev], { encoding: 'utf8' }))[0];
    expect(link.mtu).toBe(1400);
    expect(link.flags).toContain('UP');
    expect(link.addr_info.map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)).toEqual(['10.253.77.1/30']);

    await addHostRoute('10.253.78.0/24', dev);
    await addHostRoute('10.253.78.0/24', dev);
    const routes = () => JSON.parse(execFileSync('ip', ['-j', 'route', 'show', 'dev', dev], { encoding: 'utf8' })) as { dst: string }[];
    expect(routes().map((r) => r.dst)).toContain('10.253.78.0/24');
    await deleteHostRoute('10.253.78.0/24', dev);
    await deleteHostRoute('10.253.78.0/24', dev);
    expect(routes().map((r) => r.dst)).not.toContain('10.253.78.0/24');
    await deleteHostRoute('10.253.78.0/24', 'ptnonexistent');
  });
});
