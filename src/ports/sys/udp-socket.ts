/**
 * A non-blocking IPv4 UDP socket for the VXLAN underlay, driven from the data-plane loop like the
 * TAP fds: recvfrom into a slot of the frame slab (the source address lands in one preallocated
 * sockaddr), sendto from a slot with a per-peer sockaddr made once at control time.
 */
import { Errno, O_CLOEXEC, O_NONBLOCK, SysError, bind, bufferAddress, close, errno, recvfromAddr, sendtoAddr, setsockopt, socket } from './libc.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_RCVBUF = 8;
const SO_SNDBUF = 7;

/** struct sockaddr_in for an address and port (16 bytes). */
export function sockaddrIn(ip: number, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(ip >>> 0, 4);
  return b;
}

export class UdpSocket {
  readonly fd: number;
  /** source of the last datagram received */
  srcIp = 0;
  srcPort = 0;
  private readonly from = Buffer.alloc(16);
  private readonly fromLen = Buffer.alloc(4);
  private lastBase: Uint8Array | null = null;
  private lastAddr = 0;

  constructor(ip: number, port: number) {
    const fd = socket(AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) throw new SysError('cannot open a UDP socket', errno());
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1, 0);
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, 4);
      const size = Buffer.alloc(4);
      size.writeInt32LE(4 * 1024 * 1024, 0);
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, size, 4);
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, size, 4);
      const addr = sockaddrIn(ip, port);
      if (bind(fd, addr, 16) < 0) {
        const e = errno();
        const where = `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;
        throw new SysError(`cannot bind the VXLAN socket to ${where}`, e, {
          hint: e === Errno.EADDRNOTAVAIL ? 'the address is not on any interface of this host' : undefined,
        });
      }
    } catch (err) {
      close(fd);
      throw err;
    }
    this.fd = fd;
  }

  private address(base: Uint8Array): number {
    if (base !== this.lastBase) {
      this.lastBase = base;
      this.lastAddr = bufferAddress(base);
    }
    return this.lastAddr;
  }

  /** One datagram into base[off, off+maxLen): bytes, 0 when none is waiting, -errno on error. */
  recv(base: Uint8Array, off: number, maxLen: number): number {
    if (off < 0 || off + maxLen > base.length) throw new RangeError('UdpSocket.recv outside the buffer');
    this.fromLen.writeUInt32LE(16, 0);
    const n = recvfromAddr(this.fd, this.address(base) + off, maxLen, 0, this.from, this.fromLen);
    if (n < 0) {
      const e = errno();
      return e === Errno.EAGAIN ? 0 : -e;
    }
    const f = this.from;
    this.srcPort = (f[2] << 8) | f[3];
    this.srcIp = ((f[4] << 24) | (f[5] << 16) | (f[6] << 8) | f[7]) >>> 0;
    return n;
  }

  /** Sends base[off, off+len) to `to` (a sockaddrIn); bytes sent or -errno. */
  send(base: Uint8Array, off: number, len: number, to: Uint8Array): number {
    if (off < 0 || off + len > base.length) throw new RangeError('UdpSocket.send outside the buffer');
    const n = sendtoAddr(this.fd, this.address(base) + off, len, 0, to, 16);
    return n < 0 ? -errno() : n;
  }

  close(): void {
    close(this.fd);
  }
}
