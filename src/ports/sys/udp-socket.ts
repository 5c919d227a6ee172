/**
 * A non-blocking IPv4 UDP socket for the VXLAN underlay: bound, its buffers sized, UDP_GRO and
 * SO_RXQ_OVFL asked for. Datagrams move through it in batches (sendmmsg/recvmmsg: vxlan-socket.ts).
 */
import { Errno, O_CLOEXEC, O_NONBLOCK, SysError, bind, close, errno, getsockopt, setsockopt, socket } from './libc.js';

const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_SNDBUF = 7;
const SO_RCVBUF = 8;
const SO_SNDBUFFORCE = 32;
const SO_RCVBUFFORCE = 33;
export const SO_RXQ_OVFL = 40;
export const SOL_SOCKET_LEVEL = SOL_SOCKET;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;

/** struct sockaddr_in for an address and port (16 bytes). */
export function sockaddrIn(ip: number, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(ip >>> 0, 4);
  return b;
}

export interface UdpSocketOptions {
  /** SO_RCVBUF / SO_SNDBUF in bytes (0: the system's default); forced past the sysctl limits when root */
  receiveBuffer?: number;
  sendBuffer?: number;
  /** ask for UDP_GRO (coalesced datagrams, their size in a control message) */
  gro?: boolean;
  /** ask for SO_RXQ_OVFL (the count of datagrams the socket dropped, in a control message) */
  overflowCount?: boolean;
}

export class UdpSocket {
  readonly fd: number;
  /** UDP_GRO was accepted */
  readonly gro: boolean = false;
  /** SO_RXQ_OVFL was accepted */
  readonly overflowCount: boolean = false;
  /** the buffer sizes the kernel granted (it doubles what is asked, for its bookkeeping) */
  readonly receiveBuffer: number = 0;
  readonly sendBuffer: number = 0;

  constructor(ip: number, port: number, o: UdpSocketOptions = {}) {
    const fd = socket(AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) throw new SysError('cannot open a UDP socket', errno());
    try {
      setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
      const rcv = o.receiveBuffer ?? 4 * 1024 * 1024;
      const snd = o.sendBuffer ?? 4 * 1024 * 1024;
      if (rcv > 0 && !setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, rcv)) setInt(fd, SOL_SOCKET, SO_RCVBUF, rcv);
      if (snd > 0 && !setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, snd)) setInt(fd, SOL_SOCKET, SO_SNDBUF, snd);
      this.receiveBuffer = getInt(fd, SOL_SOCKET, SO_RCVBUF);
      this.sendBuffer = getInt(fd, SOL_SOCKET, SO_SNDBUF);
      if (o.gro === true) this.gro = setInt(fd, SOL_UDP, UDP_GRO, 1);
      if (o.overflowCount === true) this.overflowCount = setInt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
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

  close(): void {
    close(this.fd);
  }
}

/** setsockopt with an int value; false when the kernel refused it. */
export function setInt(fd: number, level: number, name: number, value: number): boolean {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  return setsockopt(fd, level, name, b, 4) === 0;
}

/** getsockopt of an int value (-1 on error). */
export function getInt(fd: number, level: number, name: number): number {
  const b = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  return getsockopt(fd, level, name, b, len) === 0 ? b.readInt32LE(0) : -1;
}
