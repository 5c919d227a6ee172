import { describe, expect, it } from 'vitest';
import { formatMapping, parsePublish } from '../../../src/control/publish.js';

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
