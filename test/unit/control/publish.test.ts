import { describe, expect, it } from 'vitest';
import { formatMapping, parsePublish, planPublish } from '../../../src/control/publish.js';

describe('parsePublish', () => {
  it('reads docker -p forms', () => {
    expect(parsePublish('8080:80')).toEqual([{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80 }]);
    expect(parsePublish('198.51.100.2:5353:53/udp')).toEqual([
      { proto: 'udp', hostIp: '198.51.100.2', hostPort: 5353, containerPort: 53 },
    ]);
    expect(parsePublish('80')).toEqual([{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 0, containerPort: 80 }]);
    expect(parsePublish('0:80/tcp')).toEqual([{ proto: 'tcp', hostIp: '0.0.0.0', hostPort: 0, containerPort: 80 }]);
    expect(parsePublish('8000-8002:80-82')).toEqual([
      { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8000, containerPort: 80 },
      { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8001, containerPort: 81 },
      { proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8002, containerPort: 82 },
    ]);
  });

  it('refuses bad specs with one line naming the spec', () => {
    expect(() => parsePublish('8000-8010:80-90')).not.toThrow();
    expect(() => parsePublish('8000-8005:80-90')).toThrow(
      'invalid port mapping "8000-8005:80-90": the host range has 6 ports and the container range 11',
    );
    expect(() => parsePublish('80:70000')).toThrow('invalid port mapping "80:70000": bad container port range "70000"');
    expect(() => parsePublish('90-80:80-90')).toThrow('bad host port range "90-80"');
    expect(() => parsePublish('8080:80/sctp')).toThrow('protocol must be tcp or udp');
    expect(() => parsePublish('1.2.3:8080:80')).toThrow('bad host address "1.2.3"');
    expect(() => parsePublish('a:b:c:d')).toThrow('expected [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]');
    expect(() => parsePublish('8080:0')).toThrow('bad container port range "0"');
  });

  it('prints like docker port', () => {
    expect(formatMapping({ proto: 'udp', hostIp: '0.0.0.0', hostPort: 5353, containerPort: 53 })).toBe('53/udp -> 0.0.0.0:5353');
  });
});

describe('planPublish', () => {
  const held = [{ proto: 'tcp' as const, hostPort: 8080, holder: 'web on network bridge' }];
  const addrs = ['198.51.100.2', '10.254.0.2'];

  it('refuses a port already published, naming who has it', () => {
    expect(() => planPublish(['8080:80'], 'api', held, addrs)).toThrow('port 8080/tcp is already published by web on network bridge');
    expect(() => planPublish(['9000:80', '9000:81'], 'api', [], addrs)).toThrow('port 9000/tcp is already published by api');
  });

  it('publishes only on the gateway addresses', () => {
    expect(() => planPublish(['203.0.113.9:8081:80'], 'api', held, addrs)).toThrow(
      'cannot publish on 203.0.113.9: the gateway answers on 198.51.100.2 and 10.254.0.2 (or 0.0.0.0 for both)',
    );
    expect(planPublish(['10.254.0.2:8081:80'], 'api', held, addrs)[0]!.hostIp).toBe('10.254.0.2');
  });

  it('picks free host ports from the ephemeral range, the same port free for tcp and udp', () => {
    const got = planPublish(['80', '0:81', '53/udp'], 'api', [{ proto: 'tcp', hostPort: 32768, holder: 'x' }], addrs);
    expect(got.map((m) => `${m.hostPort}->${m.containerPort}/${m.proto}`)).toEqual(['32769->80/tcp', '32770->81/tcp', '32768->53/udp']);
  });
});

describe('publishing on IPv6', () => {
  const addrs = ['198.51.100.2', '10.254.0.2'];
  const addrs6 = ['2001:db8:64::2', 'fd70:6f6e:0:1::2'];
  const dual = { ipv4: true, ipv6: true, network: 'bridge' };
  const v4only = { ipv4: true, ipv6: false, network: 'bridge' };
  const v6only = { ipv4: false, ipv6: true, network: 'v6' };

  it('reads [ADDR]:HOSTPORT:CONTAINERPORT, the address canonical, and refuses a bad one', () => {
    expect(parsePublish('[::]:8080:80/udp')).toEqual([{ proto: 'udp', hostIp: '::', hostPort: 8080, containerPort: 80 }]);
    expect(parsePublish('[2001:DB8:64:0::2]:8080-8081:80-81')).toEqual([
      { proto: 'tcp', hostIp: '2001:db8:64::2', hostPort: 8080, containerPort: 80 },
      { proto: 'tcp', hostIp: '2001:db8:64::2', hostPort: 8081, containerPort: 81 },
    ]);
    expect(() => parsePublish('[2001:db8::g]:8080:80')).toThrow('invalid port mapping "[2001:db8::g]:8080:80": bad host address "2001:db8::g"');
    expect(() => parsePublish('[::]:80')).toThrow('expected [HOSTIP6]:HOSTPORT:CONTAINERPORT[/tcp|udp]');
    expect(formatMapping({ proto: 'tcp', hostIp: '::', hostPort: 8080, containerPort: 80 })).toBe('80/tcp -> :::8080');
  });

  it('a spec without a host address publishes on both families of a dual-stack endpoint, on one port', () => {
    const got = planPublish(['8080:80', '53/udp'], 'web', [{ proto: 'udp', hostPort: 32768, hostIp: '::', holder: 'x' }], addrs, addrs6, dual);
    expect(got.map((m) => `${m.hostIp} ${m.hostPort}->${m.containerPort}/${m.proto}`)).toEqual([
      '0.0.0.0 8080->80/tcp',
      ':: 8080->80/tcp',
      '0.0.0.0 32769->53/udp',
      ':: 32769->53/udp',
    ]);
    // the families' port spaces are separate: [::]:8080 held leaves 0.0.0.0:8080 free
    const held6 = [{ proto: 'tcp' as const, hostPort: 8080, hostIp: '::', holder: 'api on network bridge' }];
    expect(planPublish(['0.0.0.0:8080:80'], 'web', held6, addrs, addrs6, dual)).toHaveLength(1);
    expect(() => planPublish(['[::]:8080:80'], 'web', held6, addrs, addrs6, dual)).toThrow('port [::]:8080/tcp is already published by api on network bridge');
  });

  it('refuses IPv6 for an endpoint without IPv6, or on an address not the gateway\'s; an IPv6-only endpoint publishes on [::] alone', () => {
    expect(planPublish(['8080:80'], 'web', [], addrs, addrs6, v4only).map((m) => m.hostIp)).toEqual(['0.0.0.0']);
    expect(() => planPublish(['[::]:8080:80'], 'web', [], addrs, addrs6, v4only)).toThrow('cannot publish on [::]: web has no IPv6 address');
    expect(() => planPublish(['[2001:db8:99::1]:8080:80'], 'web', [], addrs, addrs6, dual)).toThrow(
      'cannot publish on [2001:db8:99::1]: the gateway answers on [2001:db8:64::2] and [fd70:6f6e:0:1::2] (or [::] for both)',
    );
    expect(() => planPublish(['[::]:8080:80'], 'web', [], addrs, [], dual)).toThrow('the gateway has no IPv6 address to publish on');
    expect(planPublish(['8080:80'], 'web', [], addrs, addrs6, v6only).map((m) => m.hostIp)).toEqual(['::']);
    expect(() => planPublish(['127.0.0.1:8080:80'], 'web', [], addrs, addrs6, v6only)).toThrow('network v6 is IPv6-only: cannot publish 80/tcp of web on IPv4 address 127.0.0.1');
  });
});
