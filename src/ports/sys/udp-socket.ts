/**
 * A non-blocking UDP socket for the VXLAN underlay, IPv4 or IPv6 by the address it is bound to
 * (an IPv6 one is IPV6_V6ONLY: the underlay is one family): its buffers sized, UDP_GRO and
 * SO_RXQ_OVFL asked for. Datagrams move through it in batches (sendmmsg/recvmmsg: vxlan-socket.ts).
 */
import { ipv4ToString } from '../../wire/ipv4-address.js';
import { type Ipv6Words, ipv6ToString } from '../../wire/ipv6-address.js';
import { Errno, O_CLOEXEC, O_NONBLOCK, SysError, bind, close, errno, getsockopt, setsockopt, socket } from './libc.js';

const AF_INET = 2;
const AF_INET6 = 10;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
/** sizeof(struct sockaddr_in), sizeof(struct sockaddr_in6) */
export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;
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
  const b = Buffer.alloc(SOCKADDR_IN_LEN);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.writeUInt32BE(ip >>> 0, 4);
  return b;
}

/** struct sockaddr_in6 for an address and port (28 bytes; flow label and scope id 0). */
export function sockaddrIn6(ip: Ipv6Words, port: number): Buffer {
  const b = Buffer.alloc(SOCKADDR_IN6_LEN);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  for (let k = 0; k < 4; k++) b.writeUInt32BE(ip[k]! >>> 0, 8 + k * 4);
  return b;
}

/** The sockaddr of either family for an address (a number: IPv4; words: IPv6) and port. */
export function sockaddrOf(ip: number | Ipv6Words, port: number): Buffer {
  return typeof ip === 'number' ? sockaddrIn(ip, port) : sockaddrIn6(ip, port);
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

  /** bound to an IPv6 address (AF_INET6); false: IPv4 */
  readonly ipv6: boolean;

  constructor(ip: number | Ipv6Words, port: number, o: UdpSocketOptions = {}) {
    const ipv6 = typeof ip !== 'number';
    const fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_DGRAM | O_NONBLOCK | O_CLOEXEC, 0);
    if (fd < 0) throw new SysError(`cannot open a UDP${ipv6 ? '/IPv6' : ''} socket`, errno());
    this.ipv6 = ipv6;
    try {
      setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
      if (ipv6 && !setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1)) throw new SysError('cannot make the VXLAN socket IPv6-only', errno());
      const rcv = o.receiveBuffer ?? 4 * 1024 * 1024;
      const snd = o.sendBuffer ?? 4 * 1024 * 1024;
      setSocketBuffers(fd, rcv, snd);
      this.receiveBuffer = getInt(fd, SOL_SOCKET, SO_RCVBUF);
      this.sendBuffer = getInt(fd, SOL_SOCKET, SO_SNDBUF);
      if (o.gro === true) this.gro = setInt(fd, SOL_UDP, UDP_GRO, 1);
      if (o.overflowCount === true) this.overflowCount = setInt(fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
      const addr = sockaddrOf(ip, port);
      if (bind(fd, addr, addr.length) < 0) {
        const e = errno();
        const where = typeof ip === 'number' ? `${ipv4ToString(ip)}:${port}` : `[${ipv6ToString(ip)}]:${port}`;
        throw new SysError(`cannot bind the VXLAN socket to ${where}`, e, {
          hint:
            e !== Errno.EADDRNOTAVAIL
              ? undefined
              : ipv6
                ? 'the address is not on any interface of this host (or still tentative: duplicate address detection)'
                : 'the address is not on any interface of this host',
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

/**
 * SO_RCVBUF / SO_SNDBUF in bytes (0: leave the system's default), forced past the sysctl limits
 * when the process may (root); else as large as the limits allow.
 */
export function setSocketBuffers(fd: number, receive: number, send: number): void {
  if (receive > 0 && !setInt(fd, SOL_SOCKET, SO_RCVBUFFORCE, receive)) setInt(fd, SOL_SOCKET, SO_RCVBUF, receive);
  if (send > 0 && !setInt(fd, SOL_SOCKET, SO_SNDBUFFORCE, send)) setInt(fd, SOL_SOCKET, SO_SNDBUF, send);
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
