import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  RESOLV_CONF_MARKER,
  containerResolvConf,
  formatUpstream,
  hostNameservers,
  netnsNameOf,
  parseUpstream,
  parseUpstreamOrProblem,
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
    for (const bad of ['192.0.2.53:0', '192.0.2.53:65536', '192.0.2', 'dns.example', '[192.0.2.53]', '']) expect(parseUpstream(bad), bad).toBeNull();
  });

  it('parses IPv6, [IPv6] and [IPv6]:port, in RFC 5952 text, and link-local ones with their zone', () => {
    expect(parseUpstream('2001:DB8:0:0::53')).toEqual({ address: '2001:db8::53', port: 53 });
    expect(parseUpstream('::1')).toEqual({ address: '::1', port: 53 });
    expect(parseUpstream('[2001:db8::53]')).toEqual({ address: '2001:db8::53', port: 53 });
    expect(parseUpstream('[2001:db8::53]:5353')).toEqual({ address: '2001:db8::53', port: 5353 });
    expect(parseUpstream('fe80::1%eth0')).toEqual({ address: 'fe80::1%eth0', port: 53 });
    expect(parseUpstream('[fe80::1%eth0]:5300')).toEqual({ address: 'fe80::1%eth0', port: 5300 });
    expect(formatUpstream({ address: '2001:db8::53', port: 53 })).toBe('[2001:db8::53]:53');
    expect(formatUpstream({ address: '192.0.2.53', port: 53 })).toBe('192.0.2.53:53');
  });

  it('says why an IPv6 upstream is refused', () => {
    const problem = (s: string) => (parseUpstreamOrProblem(s) as { problem: string }).problem;
    expect(problem('2001:db8::53::1')).toBe('is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port');
    expect(problem('[2001:db8::53]:0')).toBe('is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port');
    expect(problem('[2001:db8::g]:53')).toBe('is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port');
    expect(problem('::')).toBe('cannot be a DNS server');
    expect(problem('ff02::fb')).toBe('cannot be a DNS server');
    expect(problem('fe80::1')).toBe('is link-local: name its interface, as in fe80::1%eth0');
    expect(problem('2001:db8::53%eth0')).toBe('has a zone, which only a link-local (fe80::/10) address takes');
    expect(problem('fe80::1%a/b')).toBe('has a zone that is not an interface name ("a/b")');
    expect(problem('fe80::1%')).toBe('has a zone that is not an interface name ("")');
  });

  it('takes the IPv4 and IPv6 nameservers of a resolv.conf in order, as listed', () => {
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
      { address: '2001:db8::1', port: 53 },
      { address: '203.0.113.7', port: 53 },
    ]);
    // link-local with its zone as glibc takes it; ports and brackets are not resolv.conf syntax
    expect(resolvConfNameservers('nameserver fe80::1%eth0\nnameserver [2001:db8::2]:53\nnameserver 192.0.2.1:53\nnameserver fe80::2\n')).toEqual([
      { address: 'fe80::1%eth0', port: 53 },
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
