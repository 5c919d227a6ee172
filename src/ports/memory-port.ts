import type { ParentIo, PortIo, TunnelIo } from '../dataplane/port.js';
import { VNET_HDR_LEN } from '../wire/virtio-net.js';

/** A port that keeps what the data plane sends, for tests and benchmarks. */
export class MemoryPort implements PortIo {
  readonly sent: Buffer[] = [];
  /** when false, frames are counted but not kept (benchmarks) */
  keep = true;
  count = 0;

  send(buf: Buffer, off: number, len: number): boolean {
    this.count++;
    if (this.keep) this.sent.push(Buffer.from(buf.subarray(off, off + len)));
    return true;
  }

  /** Frames sent since the last take(), oldest first. */
  take(): Buffer[] {
    return this.sent.splice(0, this.sent.length);
  }
}

/** An in-memory VXLAN underlay: counts (and optionally keeps) what is sent to each VTEP. */
export class MemoryTunnel implements TunnelIo {
  readonly sent: { vtep: number; bytes: Buffer }[] = [];
  keep = true;
  count = 0;

  sendTo(buf: Buffer, off: number, len: number, vtep: number): boolean {
    this.count++;
    if (this.keep) this.sent.push({ vtep, bytes: Buffer.from(buf.subarray(off, off + len)) });
    return true;
  }

  flush(): void {
    // copied when queued
  }
}

/** An in-memory macvlan parent: keeps what each VLAN's port sends (the frame untagged, its VLAN beside it). */
export class MemoryParent implements ParentIo {
  readonly sent: { vlan: number; bytes: Buffer }[] = [];
  keep = true;
  count = 0;

  sendFrame(buf: Buffer, off: number, len: number, vlan: number, withVnet: boolean): boolean {
    this.count++;
    const skip = withVnet ? VNET_HDR_LEN : 0;
    if (this.keep) this.sent.push({ vlan, bytes: Buffer.from(buf.subarray(off + skip, off + len)) });
    return true;
  }

  flush(): void {
    // copied when queued
  }

  /** Frames sent since the last take(), oldest first. */
  take(): { vlan: number; bytes: Buffer }[] {
    return this.sent.splice(0, this.sent.length);
  }
}
