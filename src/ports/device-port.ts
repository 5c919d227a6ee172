import type { PortIo } from '../dataplane/port.js';
import { writeFrameAt } from './sys/frame-io.js';

/** A TAP or TUN file descriptor as a data-plane port: one write(2) per frame. */
export class DevicePort implements PortIo {
  /** last negative errno from a write, for diagnostics */
  lastError = 0;

  constructor(readonly fd: number) {}

  send(buf: Buffer, off: number, len: number): boolean {
    const n = writeFrameAt(this.fd, buf, off, len);
    if (n >= 0) return true;
    this.lastError = n;
    return false;
  }
}
