import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  RESOLV_CONF_MARKER,
  containerResolvConf,
  hostNameservers,
  netnsNameOf,
  parseUpstream,
  removeContainerResolvConf,
  resolvConfNameservers,
  writeContainerResolvConf,
} from '../../../src/control/dns/resolv-conf.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function etc(): string {
  const d = mkdtempSync(join(tmpdir(), 'pontoon-netns-'));
  dirs.push(d);
  return d;
}

describe('container resolv.conf', () => {
  it('names the nameserver with ndots:0 under a marker line', () => {
    expect(containerResolvConf('172.17.0.1')).toBe(`${RESOLV_CONF_MARKER}\nnameserver 172.17.0.1\noptions ndots:0\n`);
  });

  it('is written into /etc/netns/NAME (created), replaced in place, and removed with its directory', () => {
    const root = etc();
    expect(writeContainerResolvConf('c1', '172.17.0.1', root)).toBe('written');
    const file = join(root, 'c1', 'resolv.conf');
    expect(readFileSync(file, 'utf8')).toBe(containerResolvConf('172.17.0.1'));
    expect(writeContainerResolvConf('c1', '172.17.0.1', root)).toBe('unchanged');
    expect(writeContainerResolvConf('c1', '10.10.0.1', root)).toBe('written');
    expect(readFileSync(file, 'utf8')).toContain('nameserver 10.10.0.1\n');
    expect(readdirSync(join(root, 'c1'))).toEqual(['resolv.conf']); // no temporary file left behind
    expect(removeContainerResolvConf('c1', root)).toBe(true);
    expect(existsSync(join(root, 'c1'))).toBe(false);
    expect(removeContainerResolvConf('c1', root)).toBe(false);
  });

  it('never replaces or removes a file it did not write', () => {
    const root = etc();
    mkdirSync(join(root, 'mine'));
    writeFileSync(join(root, 'mine', 'resolv.conf'), 'nameserver 9.9.9.9\n');
    writeFileSync(join(root, 'mine', 'hosts'), '127.0.0.1 localhost\n');
    expect(writeContainerResolvConf('mine', '172.17.0.1', root)).toBe('foreign');
    expect(removeContainerResolvConf('mine', root)).toBe(false);
    expect(readFileSync(join(root, 'mine', 'resolv.conf'), 'utf8')).toBe('nameserver 9.9.9.9\n');
  });

  it('keeps the directory when other files are in it', () => {
    const root = etc();
    writeContainerResolvConf('c2', '172.17.0.1', root);
    writeFileSync(join(root, 'c2', 'hosts'), '127.0.0.1 localhost\n');
    expect(removeContainerResolvConf('c2', root)).toBe(true);
    expect(readdirSync(join(root, 'c2'))).toEqual(['hosts']);
  });

  it('refuses names that would leave /etc/netns', () => {
    expect(() => writeContainerResolvConf('../etc', '172.17.0.1', etc())).toThrow(/invalid network namespace name/);
    expect(() => writeContainerResolvConf('..', '172.17.0.1', etc())).toThrow(/invalid network namespace name/);
  });

  it('only `ip netns` namespaces have a name', () => {
    expect(netnsNameOf('/run/netns/c1')).toBe('c1');
    expect(netnsNameOf('/proc/123/ns/net')).toBeNull();
    expect(netnsNameOf('/run/netns/a/b')).toBeNull();
    expect(netnsNameOf('/var/run/docker/netns/x')).toBeNull();
  });
});

describe('upstreams', () => {
  it('parses IPv4 and IPv4:port', () => {
    expect(parseUpstream('192.0.2.53')).toEqual({ address: '192.0.2.53', port: 53 });
    expect(parseUpstream('192.0.2.53:5353')).toEqual({ address: '192.0.2.53', port: 5353 });
    for (const bad of ['192.0.2.53:0', '192.0.2.53:65536', '192.0.2', 'dns.example', '::1', '[::1]:53', '']) expect(parseUpstream(bad), bad).toBeNull();
  });

  it('takes the IPv4 nameservers of a resolv.conf in order, as listed', () => {
    const text = [
      '# comment',
      'search example.org',
      'nameserver 127.0.0.53',
      'nameserver   198.51.100.1 ',
      'nameserver 2001:db8::1',
      'options edns0 trust-ad',
      'nameserver 203.0.113.7',
    ].join('\n');
    expect(resolvConfNameservers(text)).toEqual([
      { address: '127.0.0.53', port: 53 },
      { address: '198.51.100.1', port: 53 },
      { address: '203.0.113.7', port: 53 },
    ]);
    expect(resolvConfNameservers('')).toEqual([]);
  });

  it('reads the host file, and gives none when it is missing', () => {
    const root = etc();
    writeFileSync(join(root, 'resolv.conf'), 'nameserver 198.51.100.1\n');
    expect(hostNameservers(join(root, 'resolv.conf'))).toEqual([{ address: '198.51.100.1', port: 53 }]);
    expect(hostNameservers(join(root, 'missing'))).toEqual([]);
  });
});
