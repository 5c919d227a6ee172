// A stand-in for the data plane's pinMapping/unpinMapping: the contract of DataplaneControl
// (idempotent pin, the inside port first when no outside port is asked for, refusals that
// change nothing), over a plain map.

import type { MappingPins } from '../../../src/control/pcp/mapping-manager.js';

export class FakePins implements MappingPins {
  /** `${proto}/${insideIp}/${insidePort}` -> outside port */
  readonly pins = new Map<string, number>();
  /** the same keys -> open to every outside host (MAP) or only kept alive (PEER) */
  readonly open = new Map<string, boolean>();
  /** outside ports taken by others (published, or another flow's mapping): `${proto}/${port}` */
  readonly taken = new Set<string>();
  calls: string[] = [];

  private used(proto: number, port: number): boolean {
    if (this.taken.has(`${proto}/${port}`)) return true;
    for (const [k, p] of this.pins) if (k.startsWith(`${proto}/`) && p === port) return true;
    return false;
  }

  async pinMapping(spec: { proto: 6 | 17; insideIp: number; insidePort: number; outsidePort: number; exact: boolean; open: boolean }): Promise<number> {
    const key = `${spec.proto}/${spec.insideIp >>> 0}/${spec.insidePort}`;
    this.calls.push(`pin ${key} ${spec.outsidePort}${spec.exact ? ' exact' : ''}`);
    const have = this.pins.get(key);
    if (have !== undefined) {
      this.open.set(key, spec.open);
      return have;
    }
    const want = spec.outsidePort !== 0 ? spec.outsidePort : spec.insidePort;
    let port = want;
    if (this.used(spec.proto, port)) {
      if (spec.exact) throw new Error(`port ${want} is in use`);
      port = 1024;
      while (port <= 65535 && this.used(spec.proto, port)) port++;
      if (port > 65535) throw new Error('no port free');
    }
    this.pins.set(key, port);
    this.open.set(key, spec.open);
    return port;
  }

  async unpinMapping(proto: 6 | 17, insideIp: number, insidePort: number): Promise<void> {
    const key = `${proto}/${insideIp >>> 0}/${insidePort}`;
    this.calls.push(`unpin ${key}`);
    this.pins.delete(key);
    this.open.delete(key);
  }
}
