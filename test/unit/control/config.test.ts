import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig, type PontoonConfig } from '../../../src/control/config.js';
import { defaultHostLink6 } from '../../../src/control/ipam6.js';

const HOST_LINK6 = defaultHostLink6();

const root = fileURLToPath(new URL('../../../', import.meta.url));

const DEFAULTS: PontoonConfig = {
  stateDir: '/var/lib/pontoon',
  liveState: { enabled: true, path: '/run/pontoon/live-state', holdDevices: false },
  devicePrefix: 'pt',
  api: { socket: '/run/pontoon/pontoon.sock' },
  metrics: { enabled: true, listen: '127.0.0.1:9477', host: '127.0.0.1', port: 9477 },
  host: { device: 'pontoon0', address: '10.254.0.1/30', gatewayAddress: '10.254.0.2', address6: HOST_LINK6, gatewayAddress6: HOST_LINK6.replace(/::1\/64$/, '::2') },
  defaultNetwork: { name: 'bridge', subnet: '172.17.0.0/16', gateway: '172.17.0.1', mtu: 1500, ipv6: false },
  defaultPools6: [],
  log: { level: 'info' },
  uplink: null,
  nat: { portMin: 1024, portMax: 65535, udpFiltering: 'address-and-port-dependent', unsolicitedTcp: 'reset', pcp: { enabled: false, maxMappingsPerEndpoint: 16, maxLifetimeSeconds: 7200 } },
  conntrack: {
    max: 262144,
    maxPerEndpoint: 65536,
    tcpLoose: true,
    timeouts: {
      tcpSynSent: 120,
      tcpSynRecv: 60,
      tcpEstablished: 432000,
      tcpFinWait: 120,
      tcpCloseWait: 60,
      tcpLastAck: 30,
      tcpTimeWait: 120,
      tcpClose: 10,
      udp: 30,
      udpStream: 120,
      icmp: 60,
    },
  },
  cluster: {
    store: 'none',
    endpoints: [],
    advertise: null,
    vxlanPort: 4789,
    peers: [],
    leaseTtlSeconds: 10,
    underlayMtu: 1500,
    prefix: '/pontoon',
    udpGso: true,
    udpGro: true,
    socketReceiveBuffer: 8388608,
    socketSendBuffer: 4194304,
  },
  dns: { enabled: true, port: 53, upstream: null, timeoutMs: 2000, cacheSize: 10000 },
  docker: { enabled: false, pluginSocket: '/run/docker/plugins/pontoon.sock', apiSocket: '/run/docker.sock' },
  dataplane: {
    batchSize: 64,
    offload: true,
    gro: true,
    busyPollUs: 50,
    io: 'auto',
    macAgingSeconds: 300,
    arp: { retries: 3, retryMs: 1000, queueLength: 16, reachableSeconds: 300, staleSeconds: 60, failedSeconds: 20 },
  },
  services: { cidr: '10.96.0.0/16' },
};

function errorOf(text: string, source = 'config/x.yaml'): string {
  try {
    parseConfig(text, source);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig', () => {
  it('takes an uplink, NAT and conntrack settings', () => {
    const c = parseConfig(
      [
        'uplink: { kind: tap, device: ptup, address: 198.51.100.2/24, gateway: 198.51.100.1, netns: ext }',
        'nat: { portRange: 20000-30000, udpFiltering: endpoint-independent, unsolicitedTcp: drop, pcp: { enabled: true, maxLifetimeSeconds: 600 } }',
        'conntrack: { max: 1024, timeouts: { udp: 5 } }',
      ].join('\n'),
      'x.yaml',
    );
    expect(c.uplink).toEqual({
      kind: 'tap',
      device: 'ptup',
      address: '198.51.100.2/24',
      gateway: '198.51.100.1',
      address6: null,
      gateway6: null,
      netns: 'ext',
      mac: null,
      mtu: 1500,
    });
    expect(c.nat).toEqual({
      portMin: 20000,
      portMax: 30000,
      udpFiltering: 'endpoint-independent',
      unsolicitedTcp: 'drop',
      pcp: { enabled: true, maxMappingsPerEndpoint: 16, maxLifetimeSeconds: 600 },
    });
    expect(c.conntrack.max).toBe(1024);
    expect(c.conntrack.timeouts.udp).toBe(5);
    expect(c.conntrack.timeouts.tcpEstablished).toBe(432000);
  });

  it('takes the docker section and checks its sockets', () => {
    const c = parseConfig('docker: { enabled: true, pluginSocket: /run/docker/plugins/pt.sock, apiSocket: null }', 't.yaml');
    expect(c.docker).toEqual({ enabled: true, pluginSocket: '/run/docker/plugins/pt.sock', apiSocket: null });
    expect(errorOf('docker: { pluginSocket: plugins/pt.sock }', 't.yaml')).toMatch(/^t\.yaml: docker\.pluginSocket: /);
    expect(errorOf('docker: { enable: true }', 't.yaml')).toBe('t.yaml: unknown key "enable" (in docker)');
  });

  it('checks nat.pcp', () => {
    expect(errorOf('nat: { pcp: { maxMappingsPerEndpoint: 0 } }')).toMatch(/nat\.pcp\.maxMappingsPerEndpoint: 0 is not an integer between 1 and 65535/);
    expect(errorOf('nat: { pcp: { lifetime: 5 } }')).toMatch(/nat\.pcp/);
  });

  it('takes a cluster section and checks it hangs together', () => {
    const c = parseConfig('cluster: { store: etcd, endpoints: [ "http://192.0.2.10:2379" ], advertise: 192.0.2.1 }', 'x.yaml');
    expect(c.cluster).toMatchObject({ store: 'etcd', endpoints: ['http://192.0.2.10:2379'], advertise: '192.0.2.1', vxlanPort: 4789 });
    expect(errorOf('cluster: { store: etcd, advertise: 192.0.2.1 }')).toBe('config/x.yaml: cluster.endpoints: store etcd needs at least one endpoint');
    expect(errorOf('cluster: { peers: [ 192.0.2.2 ] }')).toBe("config/x.yaml: cluster.advertise: static peers need this host's underlay address");
    expect(errorOf('cluster: { endpoints: [ "192.0.2.10:2379" ] }')).toBe(
      'config/x.yaml: cluster.endpoints.0: "192.0.2.10:2379" is not an etcd client URL such as http://192.0.2.10:2379',
    );
  });

  it('names the bad uplink key', () => {
    expect(errorOf('uplink: { kind: tap, device: ptup, address: 198.51.100.2/24, gateway: 203.0.113.1 }')).toBe(
      "config/x.yaml: uplink.gateway: 203.0.113.1 is not in the uplink's subnet 198.51.100.0/24",
    );
    expect(errorOf('uplink: { kind: pcap, device: eth1, address: 198.51.100.2/24, gateway: 198.51.100.1 }')).toBe(
      'config/x.yaml: uplink.kind: "pcap" is not one of tap, afpacket',
    );
    expect(errorOf('nat: { portRange: 9-3 }')).toBe('config/x.yaml: nat.portRange: "9-3" is not a range of ports within 1-65535');
  });

  it('takes the IPv6 side of the uplink and of the default network, and names what is wrong in one line', () => {
    const up = 'uplink: { kind: tap, device: ptup, address: 198.51.100.2/24, gateway: 198.51.100.1';
    expect(parseConfig(`${up}, address6: "2001:db8:1::2/64", gateway6: "fe80::1" }`, 'x.yaml').uplink).toMatchObject({
      address6: '2001:db8:1::2/64',
      gateway6: 'fe80::1',
    });
    expect(parseConfig(`${up}, address6: "2001:db8:1::2/64", gateway6: "2001:db8:1::1" }`, 'x.yaml').uplink?.gateway6).toBe('2001:db8:1::1');
    const cases: [string, string][] = [
      [`${up}, address6: "2001:db8:1::2/64" }`, 'uplink.gateway6: address6 and gateway6 go together'],
      [`${up}, gateway6: "fe80::1" }`, 'uplink.address6: address6 and gateway6 go together'],
      [`${up}, address6: "2001:db8:1::2", gateway6: "fe80::1" }`, 'uplink.address6: "2001:db8:1::2" is not a valid IPv6 interface address such as 2001:db8:1::2/64'],
      [`${up}, address6: "2001:db8:1::/64", gateway6: "fe80::1" }`, 'uplink.address6: "2001:db8:1::/64" is the subnet-router anycast address of its subnet'],
      [`${up}, address6: "fe80::2/64", gateway6: "fe80::1" }`, 'uplink.address6: "fe80::2/64" is not a global or unique local address'],
      [`${up}, address6: "2001:db8:1::2/64", gateway6: "2001:db8:2::1" }`, "uplink.gateway6: 2001:db8:2::1 is neither in the uplink's subnet 2001:db8:1::/64 nor link-local"],
      [`${up}, address6: "2001:db8:1::2/64", gateway6: "2001:db8:1::2" }`, "uplink.gateway6: 2001:db8:1::2 is the uplink's own address"],
      [`${up}, address6: "2001:db8:1::2/64", gateway6: "198.51.100.1" }`, 'uplink.gateway6: "198.51.100.1" is not a valid IPv6 address'],
      ['defaultNetwork: { fixedCidrV6: "fd00:17::/64" }', 'defaultNetwork.fixedCidrV6: fixedCidrV6 needs ipv6: true'],
      ['defaultNetwork: { ipv6: true, fixedCidrV6: "fd00:17::1/64" }', 'defaultNetwork.fixedCidrV6: "fd00:17::1/64" has host bits set: it should be fd00:17::/64'],
      ['defaultNetwork: { ipv6: true, fixedCidrV6: "fd00:17::/127" }', 'defaultNetwork.fixedCidrV6: "fd00:17::/127" is too small for a network: the prefix length must be at most /126 (/64 recommended)'],
      ['defaultPools6: [{ base: "fd00:1::/64", size: 48 }]', 'defaultPools6.0.size: size /48 is larger than the pool fd00:1::/64'],
      ['defaultPools6: [{ base: "10.0.0.0/8" }]', 'defaultPools6.0.base: "10.0.0.0/8" is not a valid IPv6 CIDR such as fd00:20::/64'],
    ];
    for (const [text, message] of cases) expect(errorOf(text)).toBe(`config/x.yaml: ${message}`);
    expect(parseConfig('defaultNetwork: { ipv6: true, fixedCidrV6: "fd00:17::/64" }\ndefaultPools6: [{ base: "fd00:1::/48" }]', 'x.yaml')).toMatchObject({
      defaultNetwork: { ipv6: true, fixedCidrV6: 'fd00:17::/64' },
      defaultPools6: [{ base: 'fd00:1::/48', size: 64 }],
    });
  });

  it('gives every default for an empty file', () => {
    expect(parseConfig('', 'x.yaml')).toEqual(DEFAULTS);
    expect(parseConfig('# only a comment\n', 'x.yaml')).toEqual(DEFAULTS);
    expect(parseConfig('{}', 'x.yaml')).toEqual(DEFAULTS);
  });

  it('parses config/pontoon.yaml to the defaults', () => {
    expect(loadConfig(join(root, 'config/pontoon.yaml'))).toEqual(DEFAULTS);
  });

  it('parses config/demo.yaml', () => {
    const c = loadConfig(join(root, 'config/demo.yaml'));
    expect(c).toEqual({
      ...DEFAULTS,
      stateDir: '/tmp/pontoon-demo/state',
      liveState: { enabled: true, path: '/tmp/pontoon-demo/live-state', holdDevices: false },
      devicePrefix: 'ptd',
      api: { socket: '/tmp/pontoon-demo/pontoon.sock' },
      metrics: { enabled: true, listen: '127.0.0.1:9478', host: '127.0.0.1', port: 9478 },
      host: { device: 'ptdemo0', address: '10.254.9.1/30', gatewayAddress: '10.254.9.2', address6: 'fd70:6f6e:0:9::1/64', gatewayAddress6: 'fd70:6f6e:0:9::2' },
      defaultNetwork: { name: 'bridge', subnet: '172.30.0.0/16', gateway: '172.30.0.1', mtu: 1500, ipv6: false },
      dns: { ...DEFAULTS.dns, upstream: [] },
      uplink: {
        kind: 'tap',
        device: 'ptdup',
        address: '198.51.100.2/24',
        gateway: '198.51.100.1',
        address6: null,
        gateway6: null,
        netns: 'pontoon-demo-ext',
        mac: null,
        mtu: 1500,
      },
    });
  });

  it('takes a dns section: upstreams as IPv4 or IPv4:port, [] for none, absent for the host\'s', () => {
    const c = parseConfig('dns: { port: 5353, upstream: [ 198.51.100.53, "203.0.113.9:5300" ], timeoutMs: 500, cacheSize: 0 }', 'x.yaml');
    expect(c.dns).toEqual({
      enabled: true,
      port: 5353,
      upstream: [
        { address: '198.51.100.53', port: 53 },
        { address: '203.0.113.9', port: 5300 },
      ],
      timeoutMs: 500,
      cacheSize: 0,
    });
    expect(parseConfig('dns: { upstream: [] }', 'x.yaml').dns.upstream).toEqual([]);
    expect(parseConfig('dns: { enabled: false }', 'x.yaml').dns).toEqual({ ...DEFAULTS.dns, enabled: false });
    expect(parseConfig('dns:\n', 'x.yaml').dns).toEqual(DEFAULTS.dns);
  });

  it('names the bad dns key', () => {
    expect(errorOf('dns: { upstream: [ "dns.example" ] }')).toBe('config/x.yaml: dns.upstream.0: "dns.example" is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port');
    expect(errorOf('dns: { upstream: [ "1.2.3.4:0" ] }')).toBe('config/x.yaml: dns.upstream.0: "1.2.3.4:0" is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port');
    expect(errorOf('dns: { upstream: [ 1.2.3.4, "1.2.3.256" ] }')).toBe(
      'config/x.yaml: dns.upstream.1: "1.2.3.256" is not an IPv4 or IPv6 address, IPv4:port or [IPv6]:port',
    );
    expect(errorOf('dns: { upstream: [ 0.0.0.0 ] }')).toBe('config/x.yaml: dns.upstream.0: "0.0.0.0" cannot be a DNS server');
    expect(errorOf('dns: { upstream: [ "fe80::53" ] }')).toBe('config/x.yaml: dns.upstream.0: "fe80::53" is link-local: name its interface, as in fe80::1%eth0');
    expect(parseConfig('dns: { upstream: [ "2001:db8::53", "[2001:db8::54]:5353", "fe80::53%eth0" ] }', 'x.yaml').dns.upstream).toEqual([
      { address: '2001:db8::53', port: 53 },
      { address: '2001:db8::54', port: 5353 },
      { address: 'fe80::53%eth0', port: 53 },
    ]);
    expect(errorOf('dns: { upstream: 1.2.3.4 }')).toBe('config/x.yaml: dns.upstream: expected array, got "1.2.3.4"');
    expect(errorOf('dns: { port: 0 }')).toBe('config/x.yaml: dns.port: 0 is not an integer between 1 and 65535');
    expect(errorOf('dns: { timeoutMs: 10 }')).toBe('config/x.yaml: dns.timeoutMs: 10 is not an integer between 100 and 60000');
    expect(errorOf('dns: { cacheSize: -1 }')).toBe('config/x.yaml: dns.cacheSize: -1 is not an integer between 0 and 10000000');
    expect(errorOf('dns: { enabled: yes please }')).toBe('config/x.yaml: dns.enabled: expected true or false, got "yes please"');
    expect(errorOf('dns: { upstreams: [] }')).toBe('config/x.yaml: unknown key "upstreams" (in dns)');
  });

  it('fills nested defaults around the keys given', () => {
    const c = parseConfig('dataplane:\n  arp:\n    retries: 5\nmetrics: { enabled: false }\nlog:\n', 'x.yaml');
    expect(c.dataplane).toEqual({ ...DEFAULTS.dataplane, arp: { ...DEFAULTS.dataplane.arp, retries: 5 } });
    expect(c.metrics).toEqual({ ...DEFAULTS.metrics, enabled: false });
    expect(c.log.level).toBe('info');
  });

  it('defaultNetwork: null means none; the gateway defaults to the first address', () => {
    expect(parseConfig('defaultNetwork: null', 'x.yaml').defaultNetwork).toBeNull();
    expect(parseConfig('defaultNetwork: { subnet: 10.10.0.0/24 }', 'x.yaml').defaultNetwork).toEqual({
      name: 'bridge',
      subnet: '10.10.0.0/24',
      gateway: '10.10.0.1',
      mtu: 1500,
      ipv6: false,
    });
  });

  it('accepts [v6]:port and host names for metrics', () => {
    expect(parseConfig('metrics: { listen: "[::1]:9100" }', 'x.yaml').metrics).toMatchObject({ host: '::1', port: 9100 });
    expect(parseConfig('metrics: { listen: "localhost:9100" }', 'x.yaml').metrics).toMatchObject({ host: 'localhost', port: 9100 });
  });

  it('rejects unknown keys at every level, naming the file and where', () => {
    expect(errorOf('metric: {}')).toBe('config/x.yaml: unknown key "metric" (at top level)');
    expect(errorOf('dataplane:\n  arp:\n    retry: 2\n')).toBe('config/x.yaml: unknown key "retry" (in dataplane.arp)');
    expect(errorOf('host: { dev: x, addr: y }')).toBe('config/x.yaml: unknown keys "dev", "addr" (in host)');
  });

  it('names the key path and the reason for bad values', () => {
    expect(errorOf('defaultNetwork: { subnet: 172.17.0.0/33 }', 'config/pontoon.yaml')).toBe(
      'config/pontoon.yaml: defaultNetwork.subnet: "172.17.0.0/33" is not a valid IPv4 CIDR',
    );
    expect(errorOf('defaultNetwork: { subnet: 172.17.0.5/16 }')).toBe(
      'config/x.yaml: defaultNetwork.subnet: "172.17.0.5/16" has host bits set: it should be 172.17.0.0/16',
    );
    expect(errorOf('defaultNetwork: { subnet: 10.0.0.0/31 }')).toBe(
      'config/x.yaml: defaultNetwork.subnet: "10.0.0.0/31" is too small for a network: the prefix length must be at most /30',
    );
    expect(errorOf('defaultNetwork: { gateway: 10.0.0.1 }')).toBe(
      'config/x.yaml: defaultNetwork.gateway: 10.0.0.1 is not in subnet 172.17.0.0/16',
    );
    expect(errorOf('defaultNetwork: { gateway: 172.17.255.255 }')).toBe(
      'config/x.yaml: defaultNetwork.gateway: 172.17.255.255 is the broadcast address of subnet 172.17.0.0/16',
    );
    expect(errorOf('defaultNetwork: { gateway: 172.17.0.01 }')).toBe(
      'config/x.yaml: defaultNetwork.gateway: "172.17.0.01" is not a valid IPv4 address',
    );
    expect(errorOf('defaultNetwork: { mtu: 67 }')).toBe('config/x.yaml: defaultNetwork.mtu: 67 is not an integer between 68 and 65535');
    expect(errorOf('defaultNetwork: { name: "-x" }')).toBe(
      'config/x.yaml: defaultNetwork.name: "-x" is not a valid network name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)',
    );
    expect(errorOf('dataplane: { batchSize: 0 }')).toBe('config/x.yaml: dataplane.batchSize: 0 is not an integer between 1 and 1024');
    expect(errorOf('dataplane: { batchSize: 1.5 }')).toBe(
      'config/x.yaml: dataplane.batchSize: 1.5 is not an integer between 1 and 1024',
    );
    expect(errorOf('dataplane: { batchSize: lots }')).toBe('config/x.yaml: dataplane.batchSize: expected a number, got "lots"');
    expect(errorOf('dataplane: 5')).toBe('config/x.yaml: dataplane: expected a mapping, got 5');
    expect(errorOf('devicePrefix: Pontoon')).toBe(
      'config/x.yaml: devicePrefix: "Pontoon" must be 1-6 characters: a lowercase letter, then lowercase letters or digits',
    );
    expect(errorOf('devicePrefix: abcdefg')).toMatch(/^config\/x\.yaml: devicePrefix: "abcdefg" must be 1-6 characters/);
    expect(errorOf('log: { level: verbose }')).toBe(
      'config/x.yaml: log.level: "verbose" is not one of fatal, error, warn, info, debug, trace, silent',
    );
    expect(errorOf('metrics: { listen: 9477 }')).toBe('config/x.yaml: metrics.listen: expected a string, got 9477');
    expect(errorOf('metrics: { listen: "127.0.0.1" }')).toBe(
      'config/x.yaml: metrics.listen: "127.0.0.1" is not a "host:port" address',
    );
    expect(errorOf('metrics: { listen: "127.0.0.1:70000" }')).toBe(
      'config/x.yaml: metrics.listen: "127.0.0.1:70000": port 70000 is out of range (1..65535)',
    );
    expect(errorOf('metrics: { enabled: "no" }')).toBe('config/x.yaml: metrics.enabled: expected true or false, got "no"');
    expect(errorOf('stateDir: var/lib')).toBe('config/x.yaml: stateDir: "var/lib" is not an absolute path');
    expect(errorOf('liveState: { path: run/x }')).toBe('config/x.yaml: liveState.path: "run/x" is not an absolute path');
    expect(errorOf('liveState: { enabled: 1 }')).toBe('config/x.yaml: liveState.enabled: expected true or false, got 1');
    expect(errorOf(`api: { socket: /${'x'.repeat(120)} }`)).toMatch(/^config\/x\.yaml: api\.socket: .* is longer than 107 bytes/);
    expect(errorOf('host: { device: a-very-long-device-name }')).toBe(
      'config/x.yaml: host.device: "a-very-long-device-name" is not a valid device name (1-15 characters of [a-zA-Z0-9_.-])',
    );
  });

  it('checks the host link address', () => {
    expect(errorOf('host: { address: 10.254.0.1/31 }')).toBe(
      'config/x.yaml: host.address: "10.254.0.1/31": the prefix length must be at most /30 (the gateway needs the next address)',
    );
    expect(errorOf('host: { address: 10.254.0.2/30 }')).toBe(
      'config/x.yaml: host.address: "10.254.0.2/30" leaves no next address in its subnet for the gateway',
    );
    expect(errorOf('host: { address: 10.254.0.0/30 }')).toBe(
      'config/x.yaml: host.address: "10.254.0.0/30" is the network address of its subnet',
    );
    expect(errorOf('host: { address: 172.17.0.1/30 }')).toBe(
      'config/x.yaml: defaultNetwork.subnet: 172.17.0.0/16 overlaps with host.address 172.17.0.1/30',
    );
    expect(parseConfig('host: { address: 192.168.100.5/24 }', 'x.yaml').host.gatewayAddress).toBe('192.168.100.6');
  });

  it('checks services.cidr: a CIDR of at most /30 that overlaps neither the host link nor the default network', () => {
    expect(parseConfig('services: { cidr: 10.100.0.0/24 }', 'x.yaml').services.cidr).toBe('10.100.0.0/24');
    expect(errorOf('services: { cidr: 10.100.0.0/31 }')).toBe('config/x.yaml: services.cidr: "10.100.0.0/31" is too small for a network: the prefix length must be at most /30');
    expect(errorOf('services: { cidr: 172.17.128.0/20 }')).toBe("config/x.yaml: services.cidr: 172.17.128.0/20 overlaps with the default network's subnet 172.17.0.0/16");
    expect(errorOf('services: { cidr: 10.254.0.0/24 }')).toBe('config/x.yaml: services.cidr: 10.254.0.0/24 overlaps with host.address 10.254.0.1/30');
    expect(errorOf('services: { cidr: banana }')).toMatch(/^config\/x.yaml: services.cidr: /);
  });

  it('takes the host link\'s IPv6 address: auto (the machine ULA\'s ffff::1/64), a CIDR, or null', () => {
    expect(HOST_LINK6).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}:ffff::1\/64$/);
    const h = parseConfig('host: { address6: "fd00:1:2:3::ffff/64" }', 'x.yaml').host;
    expect([h.address6, h.gatewayAddress6]).toEqual(['fd00:1:2:3::ffff/64', 'fd00:1:2:3::1:0']);
    expect(parseConfig('host: { address6: 2001:db8::a/64 }', 'x.yaml').host.gatewayAddress6).toBe('2001:db8::b');
    expect(parseConfig('host: { address6: null }', 'x.yaml').host).toMatchObject({ address6: null, gatewayAddress6: null });
    expect(errorOf('host: { address6: fe80::1/64 }')).toBe('config/x.yaml: host.address6: "fe80::1/64" is not a global or unique local address');
    expect(errorOf('host: { address6: fd00::1/127 }')).toBe('config/x.yaml: host.address6: "fd00::1/127": the prefix length must be at most /126 (the gateway needs the next address)');
    expect(errorOf('host: { address6: fd00::3/126 }')).toBe('config/x.yaml: host.address6: "fd00::3/126" leaves no next address in its subnet for the gateway');
    expect(errorOf('host: { address6: fd00::/64 }')).toBe('config/x.yaml: host.address6: "fd00::/64" is the subnet-router anycast address of its subnet');
    expect(errorOf('host: { address6: yes }')).toBe('config/x.yaml: host.address6: "yes" is neither "auto" nor a valid IPv6 interface address such as fd00:ffff::1/64');
    expect(errorOf('host: { address6: fd00:20::1/64 }\ndefaultNetwork: { ipv6: true, fixedCidrV6: fd00:20::/64 }')).toBe(
      'config/x.yaml: defaultNetwork.fixedCidrV6: fd00:20::/64 overlaps with host.address6 fd00:20::1/64',
    );
  });

  it('reports YAML syntax errors and non-mappings in one line', () => {
    const m = errorOf('a: [1, 2\nb: 3');
    expect(m).toMatch(/^config\/x\.yaml: invalid YAML: /);
    expect(m).not.toContain('\n');
    expect(errorOf('stateDir: /a\nstateDir: /b\n')).toMatch(/^config\/x\.yaml: invalid YAML: .*unique/i);
    expect(errorOf('- a\n- b\n')).toBe('config/x.yaml: expected a mapping at top level, got a list');
  });
});

describe('loadConfig', () => {
  it('names a missing file', () => {
    expect(() => loadConfig('/nonexistent/pontoon.yaml')).toThrow(
      new ConfigError('/nonexistent/pontoon.yaml: cannot read the config file: no such file'),
    );
  });

  it('names the file in parse errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pontoon-config-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'metric: {}\n');
    expect(() => loadConfig(file)).toThrow(`${file}: unknown key "metric" (at top level)`);
  });
});
