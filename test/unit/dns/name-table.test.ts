import { describe, expect, it } from 'vitest';
import { NameTable, canonicalName, isDnsName, reverseNameToIPv4, reverseNameToIPv6 } from '../../../src/control/dns/name-table.js';

const FRONT = { id: 'n-front', name: 'front', subnet: '10.1.0.0/24', internal: false };
const BACK = { id: 'n-back', name: 'back', subnet: '10.2.0.0/24', internal: true };

/** front: web (alias www), api (alias www), client; back: db, and client again (same container) */
function table(): NameTable {
  const t = new NameTable();
  t.setNetwork(FRONT);
  t.setNetwork(BACK);
  t.setEndpoint(FRONT.id, { id: 'e1', name: 'web', ip: '10.1.0.2', aliases: ['www'], sandbox: '4:100' });
  t.setEndpoint(FRONT.id, { id: 'e2', name: 'api', ip: '10.1.0.3', aliases: ['www', 'Api.Internal'], sandbox: '4:101' });
  t.setEndpoint(FRONT.id, { id: 'e3', name: 'client', ip: '10.1.0.4', aliases: [], sandbox: '4:102' });
  t.setEndpoint(BACK.id, { id: 'e4', name: 'db', ip: '10.2.0.2', aliases: ['postgres'], sandbox: '4:103' });
  t.setEndpoint(BACK.id, { id: 'e5', name: 'client', ip: '10.2.0.9', aliases: [], sandbox: '4:102' });
  return t;
}

describe('NameTable', () => {
  it('finds the network of a client by its address, and nothing outside every subnet', () => {
    const t = table();
    expect(t.clientScope('10.1.0.2')!.network).toEqual(FRONT);
    expect(t.clientScope('10.1.0.200')!.network).toEqual(FRONT); // no endpoint, same subnet
    expect(t.clientScope('10.2.0.2')!.network).toEqual(BACK);
    expect(t.clientScope('10.3.0.2')).toBeNull();
    expect(t.clientScope('127.0.0.1')).toBeNull();
    expect(t.clientScope('not an address')).toBeNull();
  });

  it('answers container names and aliases of the same network only', () => {
    const t = table();
    const web = t.clientScope('10.1.0.2')!;
    expect(t.lookupName(web, 'api')).toEqual(['10.1.0.3']);
    expect(t.lookupName(web, 'WEB')).toEqual(['10.1.0.2']); // DNS names are case-insensitive
    expect(t.lookupName(web, 'web.')).toEqual(['10.1.0.2']);
    expect(t.lookupName(web, 'api.internal')).toEqual(['10.1.0.3']);
    expect(t.lookupName(web, 'db')).toBeNull(); // another network: does not leak
    expect(t.lookupName(web, 'postgres')).toBeNull();
    const db = t.clientScope('10.2.0.2')!;
    expect(t.lookupName(db, 'postgres')).toEqual(['10.2.0.2']);
    expect(t.lookupName(db, 'web')).toBeNull();
  });

  it('lets a container on two networks see the names of both, its querying network first', () => {
    const t = table();
    const viaFront = t.clientScope('10.1.0.4')!;
    expect(viaFront.networks.map((n) => n.id)).toEqual([FRONT.id, BACK.id]);
    expect(t.lookupName(viaFront, 'db')).toEqual(['10.2.0.2']);
    expect(t.lookupName(viaFront, 'client')).toEqual(['10.1.0.4', '10.2.0.9']);
    const viaBack = t.clientScope('10.2.0.9')!;
    expect(viaBack.network).toEqual(BACK);
    expect(t.lookupName(viaBack, 'web')).toEqual(['10.1.0.2']);
  });

  it('returns every address of a shared alias, rotated by one per query', () => {
    const t = table();
    t.setEndpoint(FRONT.id, { id: 'e6', name: 'third', ip: '10.1.0.6', aliases: ['www'] });
    const scope = t.clientScope('10.1.0.4')!;
    const answers = [0, 1, 2, 3].map(() => t.lookupName(scope, 'www'));
    expect(answers).toEqual([
      ['10.1.0.2', '10.1.0.3', '10.1.0.6'],
      ['10.1.0.3', '10.1.0.6', '10.1.0.2'],
      ['10.1.0.6', '10.1.0.2', '10.1.0.3'],
      ['10.1.0.2', '10.1.0.3', '10.1.0.6'],
    ]);
    // a single address is never "rotated"
    expect(t.lookupName(scope, 'web')).toEqual(['10.1.0.2']);
  });

  it('answers reverse lookups with the container name, within the scope', () => {
    const t = table();
    const web = t.clientScope('10.1.0.2')!;
    expect(t.lookupAddress(web, '10.1.0.3')).toBe('api');
    expect(t.lookupAddress(web, '10.1.0.99')).toBeNull();
    expect(t.lookupAddress(web, '10.2.0.2')).toBeNull(); // other network
    expect(t.inScopeSubnet(web, '10.1.0.99')).toBe(true);
    expect(t.inScopeSubnet(web, '10.2.0.2')).toBe(false);
    expect(t.inScopeSubnet(t.clientScope('10.1.0.4')!, '10.2.0.2')).toBe(true);
  });

  it('forgets an endpoint removed at disconnect, and a removed network entirely', () => {
    const t = table();
    const scope = t.clientScope('10.1.0.4')!;
    expect(t.lookupName(scope, 'www')).toHaveLength(2);
    t.deleteEndpoint(FRONT.id, 'e2');
    expect(t.lookupName(scope, 'www')).toEqual(['10.1.0.2']);
    expect(t.lookupName(scope, 'api')).toBeNull();
    expect(t.lookupAddress(scope, '10.1.0.3')).toBeNull();
    t.deleteEndpoint(FRONT.id, 'nope'); // unknown: nothing happens
    t.deleteNetwork(BACK.id);
    expect(t.clientScope('10.2.0.2')).toBeNull();
    expect(t.lookupName(t.clientScope('10.1.0.4')!, 'db')).toBeNull();
    expect(t.endpointsOf(BACK.id)).toEqual([]);
  });

  it('knows endpoints of other hosts (overlay) by name and alias', () => {
    const t = new NameTable();
    t.setNetwork({ id: 'ov', name: 'ov', subnet: '10.9.0.0/24', internal: false });
    t.setEndpoint('ov', { id: 'local', name: 'here', ip: '10.9.0.2', aliases: [], sandbox: '1:1' });
    t.setEndpoint('ov', { id: 'remote', name: 'there', ip: '10.9.0.3', aliases: ['svc'] }); // no sandbox: another host
    const scope = t.clientScope('10.9.0.2')!;
    expect(t.lookupName(scope, 'there')).toEqual(['10.9.0.3']);
    expect(t.lookupName(scope, 'svc')).toEqual(['10.9.0.3']);
    expect(t.lookupAddress(scope, '10.9.0.3')).toBe('there');
    t.deleteEndpoint('ov', 'remote');
    expect(t.lookupName(scope, 'svc')).toBeNull();
  });

  it('ignores endpoints of networks it does not know', () => {
    const t = new NameTable();
    t.setEndpoint('nope', { id: 'x', name: 'x', ip: '10.0.0.2', aliases: [] });
    expect(t.endpointsOf('nope')).toEqual([]);
  });
});

describe('NameTable: legacy links (--link db:dbalias)', () => {
  const DUAL = { id: 'n-dual', name: 'dual', subnet: '10.5.0.0/24', subnet6: 'fd00:5::/64', internal: false };
  const SIDE = { id: 'n-side', name: 'side', subnet: '10.6.0.0/24', internal: false };

  /** dual: db (alias postgres), web linked db:dbalias, other; side: web again (same container), and a db of its own */
  function linked(): NameTable {
    const t = new NameTable();
    t.setNetwork(DUAL);
    t.setNetwork(SIDE);
    t.setEndpoint(DUAL.id, { id: 'db', name: 'db', ip: '10.5.0.2', ip6: 'fd00:5:0::2', aliases: ['postgres'], sandbox: '4:1' });
    t.setEndpoint(DUAL.id, { id: 'web', name: 'web', ip: '10.5.0.3', ip6: 'fd00:5::3', aliases: [], links: [{ name: 'db', alias: 'DbAlias' }], sandbox: '4:2' });
    t.setEndpoint(DUAL.id, { id: 'other', name: 'other', ip: '10.5.0.4', ip6: 'fd00:5::4', aliases: [], sandbox: '4:3' });
    t.setEndpoint(SIDE.id, { id: 'web-side', name: 'web', ip: '10.6.0.3', aliases: [], sandbox: '4:2' });
    t.setEndpoint(SIDE.id, { id: 'db-side', name: 'db', ip: '10.6.0.2', aliases: [], sandbox: '4:9' });
    return t;
  }

  it("answers the link's alias with the linked container's addresses of both families, to the linking container only", () => {
    const t = linked();
    const web = t.clientScope('10.5.0.3')!;
    expect(web.links).toEqual([{ networkId: DUAL.id, alias: 'dbalias', name: 'db' }]);
    expect(t.lookupName(web, 'dbalias')).toEqual(['10.5.0.2']);
    expect(t.lookupName(web, 'DBALIAS.', 6)).toEqual(['fd00:5::2']);
    // asked over IPv6, the client is known by its IPv6 address: the same container, the same link
    expect(t.lookupName(t.clientScope('fd00:5::3')!, 'dbalias', 6)).toEqual(['fd00:5::2']);
    // the linked container's own name resolves as any name of the container's networks (side has a db too)
    expect(t.lookupName(web, 'db')).toEqual(['10.5.0.2', '10.6.0.2']);
    const other = t.clientScope('10.5.0.4')!;
    expect(other.links).toBeUndefined();
    expect(t.lookupName(other, 'dbalias')).toBeNull();
    expect(t.lookupName(other, 'dbalias', 6)).toBeNull();
    expect(t.lookupName(t.clientScope('fd00:5::4')!, 'dbalias', 6)).toBeNull();
    expect(t.lookupName(t.clientScope('10.5.0.2')!, 'dbalias')).toBeNull(); // the linked container either
    expect(t.lookupName(other, 'db')).toEqual(['10.5.0.2']);
  });

  it("stands for the container's name on the link's network, also when asked from the container's other network", () => {
    const t = linked();
    // web asks through side, where another container is named db: the link still means dual's db
    const viaSide = t.clientScope('10.6.0.3')!;
    expect(viaSide.network).toEqual(SIDE);
    expect(t.lookupName(viaSide, 'dbalias')).toEqual(['10.5.0.2']);
    expect(t.lookupName(t.clientScope('10.6.0.2')!, 'dbalias')).toBeNull();
  });

  it('names a container, not an alias: a link to a name only an alias has resolves nothing', () => {
    const t = linked();
    t.setEndpoint(DUAL.id, { id: 'web', name: 'web', ip: '10.5.0.3', aliases: [], links: [{ name: 'postgres', alias: 'pg' }], sandbox: '4:2' });
    expect(t.lookupName(t.clientScope('10.5.0.3')!, 'pg')).toBeNull();
  });

  it("comes before the network's names for the linking container, as Docker's resolver tries link aliases first", () => {
    const t = linked();
    t.setEndpoint(DUAL.id, { id: 'web', name: 'web', ip: '10.5.0.3', aliases: [], links: [{ name: 'db', alias: 'other' }], sandbox: '4:2' });
    expect(t.lookupName(t.clientScope('10.5.0.3')!, 'other')).toEqual(['10.5.0.2']);
    expect(t.lookupName(t.clientScope('10.5.0.2')!, 'other')).toEqual(['10.5.0.4']);
  });

  it('breaks when the linked container leaves, and works again when a container of that name comes back', () => {
    const t = linked();
    const web = t.clientScope('10.5.0.3')!;
    expect(t.lookupName(web, 'dbalias')).toEqual(['10.5.0.2']);
    t.deleteEndpoint(DUAL.id, 'db');
    expect(t.lookupName(web, 'dbalias')).toBeNull();
    expect(t.lookupName(web, 'dbalias', 6)).toBeNull();
    // another endpoint, another address, the same name
    t.setEndpoint(DUAL.id, { id: 'db2', name: 'db', ip: '10.5.0.7', aliases: [], sandbox: '4:7' });
    expect(t.lookupName(web, 'dbalias')).toEqual(['10.5.0.7']);
    expect(t.lookupName(web, 'dbalias', 6)).toEqual([]); // known, no IPv6 address: empty, NOERROR
  });

  it('goes with the linking endpoint: disconnected, its container no longer has the link', () => {
    const t = linked();
    t.deleteEndpoint(DUAL.id, 'web');
    // web still asks through side, as the same container, and no longer has the link of dual
    const viaSide = t.clientScope('10.6.0.3')!;
    expect(viaSide.links).toBeUndefined();
    expect(t.lookupName(viaSide, 'dbalias')).toBeNull();
  });

  it('keeps its own copy of the links it was given', () => {
    const t = new NameTable();
    t.setNetwork(DUAL);
    const links = [{ name: 'db', alias: 'dbalias' }];
    t.setEndpoint(DUAL.id, { id: 'db', name: 'db', ip: '10.5.0.2', aliases: [], sandbox: '4:1' });
    t.setEndpoint(DUAL.id, { id: 'web', name: 'web', ip: '10.5.0.3', aliases: [], links, sandbox: '4:2' });
    links[0]!.alias = 'changed';
    expect(t.lookupName(t.clientScope('10.5.0.3')!, 'dbalias')).toEqual(['10.5.0.2']);
  });
});

describe('names', () => {
  it('canonical names are lower case without the trailing dot', () => {
    expect(canonicalName('Web.Example.')).toBe('web.example');
    expect(canonicalName('.')).toBe('');
  });

  it('reverse names map to IPv4 addresses', () => {
    expect(reverseNameToIPv4('3.0.1.10.in-addr.arpa')).toBe('10.1.0.3');
    expect(reverseNameToIPv4('3.0.1.10.IN-ADDR.ARPA.')).toBe('10.1.0.3');
    expect(reverseNameToIPv4('0.1.10.in-addr.arpa')).toBeNull();
    expect(reverseNameToIPv4('300.0.1.10.in-addr.arpa')).toBeNull();
    expect(reverseNameToIPv4('web')).toBeNull();
  });

  it('reverse names map to IPv6 addresses: 32 hex nibbles, least significant first (RFC 3596 2.5)', () => {
    const fd = '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f';
    expect(reverseNameToIPv6(`${fd}.ip6.arpa`)).toBe('fd00:1::2');
    // case and the trailing dot do not matter
    expect(reverseNameToIPv6(`${fd.toUpperCase()}.IP6.ARPA.`)).toBe('fd00:1::2');
    expect(reverseNameToIPv6('b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa')).toBe('4321:0:1:2:3:4:567:89ab');
    // malformed: 31 or 33 nibbles, a non-hex nibble, a label of two characters, no ip6.arpa
    expect(reverseNameToIPv6(`${fd.slice(2)}.ip6.arpa`)).toBeNull();
    expect(reverseNameToIPv6(`0.${fd}.ip6.arpa`)).toBeNull();
    expect(reverseNameToIPv6(`${fd.replace(/^2/, 'g')}.ip6.arpa`)).toBeNull();
    expect(reverseNameToIPv6(`${fd.replace(/^2\.0/, '20')}.ip6.arpa`)).toBeNull();
    expect(reverseNameToIPv6(`${fd}.ip6.int`)).toBeNull();
    expect(reverseNameToIPv6('3.0.1.10.in-addr.arpa')).toBeNull();
  });

  it('aliases must be DNS names', () => {
    for (const ok of ['web', 'my-db', 'db_1', 'a.b.c', 'X1']) expect(isDnsName(ok), ok).toBe(true);
    for (const bad of ['', 'a b', '-web', 'web-', 'a..b', '.a', 'é', 'x'.repeat(64), `${'a.'.repeat(127)}a`]) {
      expect(isDnsName(bad), bad).toBe(false);
    }
  });
});
