/**
 * A vector of `struct mmsghdr` for sendmmsg(2)/recvmmsg(2), laid out once in native memory: each
 * message has one iovec (or two: a header from elsewhere, then the rest of a frame), a 32-byte name
 * (room for a sockaddr_in, a sockaddr_in6 or a sockaddr_ll) and a control area of its own. Pointers are
 * written as two 32-bit halves from JS Numbers (user-space addresses are below 2^47), so filling
 * a message allocates nothing. Layouts are the generic 64-bit Linux ones (x86_64, arm64, riscv64,
 * loongarch64), little-endian.
 */
import { bufferAddress } from './libc.js';

/** struct msghdr: name, namelen, iov, iovlen, control, controllen, flags. */
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_CONTROL = 32;
const MSG_CONTROLLEN = 40;
const MSG_FLAGS = 48;
/** struct mmsghdr: the msghdr, then msg_len (bytes sent or received). */
const MMSG_LEN = 56;
export const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;
/** sockaddr_in6 is 28 bytes; a slot of 32 keeps every name 8-byte aligned */
const NAME_SIZE = 32;
/** struct sockaddr_in: family(2) port(2) addr(4); sockaddr_in6: family(2) port(2) flowinfo(4) addr(16) scope_id(4) */
const SIN_ADDR = 4;
const SIN6_ADDR = 8;
/** struct sockaddr_ll: family(2) protocol(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8) */
const SLL_PKTTYPE = 10;

/** struct cmsghdr: cmsg_len (size_t), cmsg_level, cmsg_type, then the data. */
export const CMSG_HDR_SIZE = 16;
/** CMSG_SPACE(n): the header and the data rounded up to 8 bytes. */
export function cmsgSpace(dataLen: number): number {
  return CMSG_HDR_SIZE + ((dataLen + 7) & ~7);
}

export const MSG_TRUNC = 0x20;

const TWO32 = 4294967296;

export class MessageVector {
  readonly hdrs: Buffer;
  readonly names: Buffer;
  readonly control: Buffer;
  /** address of the first mmsghdr, for the system call */
  readonly address: number;
  private readonly h32: Uint32Array;
  private readonly iov32: Uint32Array;
  private readonly c32: Uint32Array;
  private readonly namesAddr: number;
  private readonly controlAddr: number;

  constructor(
    readonly capacity: number,
    /** bytes of control data per message (a multiple of 8) */
    readonly controlSize: number,
    /** iovecs per message: 1, or 2 for setBuffers */
    readonly iovsPerMessage: 1 | 2 = 1,
  ) {
    this.hdrs = Buffer.alloc(capacity * MMSGHDR_SIZE);
    const iov = Buffer.alloc(capacity * IOVEC_SIZE * iovsPerMessage);
    this.names = Buffer.alloc(capacity * NAME_SIZE);
    this.control = Buffer.alloc(Math.max(8, capacity * controlSize));
    this.h32 = new Uint32Array(this.hdrs.buffer, this.hdrs.byteOffset, this.hdrs.length >>> 2);
    this.iov32 = new Uint32Array(iov.buffer, iov.byteOffset, iov.length >>> 2);
    this.c32 = new Uint32Array(this.control.buffer, this.control.byteOffset, this.control.length >>> 2);
    this.address = bufferAddress(this.hdrs);
    this.namesAddr = bufferAddress(this.names);
    this.controlAddr = bufferAddress(this.control);
    const iovAddr = bufferAddress(iov);
    // keep the iovec array alive as long as the headers that point into it
    this.iovs = iov;
    for (let i = 0; i < capacity; i++) {
      const m = i * MMSGHDR_SIZE;
      this.put64(m + MSG_IOV, iovAddr + i * IOVEC_SIZE * iovsPerMessage);
      this.put64(m + MSG_IOVLEN, 1);
    }
  }

  private readonly iovs: Buffer;

  private put64(byteOff: number, v: number): void {
    const lo = v >>> 0;
    this.h32[byteOff >>> 2] = lo;
    this.h32[(byteOff >>> 2) + 1] = (v - lo) / TWO32;
  }

  /** Message i carries the `len` bytes at native address `addr`. */
  setBuffer(i: number, addr: number, len: number): void {
    const w = i * this.iovsPerMessage * (IOVEC_SIZE >>> 2);
    this.putIov(w, addr, len);
    this.put64(i * MMSGHDR_SIZE + MSG_IOVLEN, 1);
  }

  /** Message i carries `len0` bytes at `addr0` then `len1` bytes at `addr1` (a vector made with two iovecs per message). */
  setBuffers(i: number, addr0: number, len0: number, addr1: number, len1: number): void {
    const w = i * 2 * (IOVEC_SIZE >>> 2);
    this.putIov(w, addr0, len0);
    this.putIov(w + (IOVEC_SIZE >>> 2), addr1, len1);
    this.put64(i * MMSGHDR_SIZE + MSG_IOVLEN, 2);
  }

  private putIov(w: number, addr: number, len: number): void {
    const lo = addr >>> 0;
    this.iov32[w] = lo;
    this.iov32[w + 1] = (addr - lo) / TWO32;
    this.iov32[w + 2] = len;
    this.iov32[w + 3] = 0;
  }

  /** Message i goes to (or comes from) the sockaddr at native address `addr`. */
  setName(i: number, addr: number, len: number): void {
    const m = i * MMSGHDR_SIZE;
    this.put64(m + MSG_NAME, addr);
    this.h32[(m + MSG_NAMELEN) >>> 2] = len;
  }

  /** Message i uses its own name slot (receiving: the source address lands there). */
  useOwnName(i: number): void {
    this.setName(i, this.namesAddr + i * NAME_SIZE, NAME_SIZE);
  }

  /** Message i has `len` bytes of its control area in use (0: none). */
  setControl(i: number, len: number): void {
    const m = i * MMSGHDR_SIZE;
    this.put64(m + MSG_CONTROL, len === 0 ? 0 : this.controlAddr + i * this.controlSize);
    this.put64(m + MSG_CONTROLLEN, len);
    this.h32[(m + MSG_FLAGS) >>> 2] = 0;
  }

  /**
   * Writes one control message at the start of message i's control area: a 32-bit value, or a
   * 16-bit one (`bytes` 2: UDP_SEGMENT takes a __u16). Returns the control bytes used.
   */
  putControl(i: number, level: number, type: number, value: number, bytes: 2 | 4 = 4): number {
    const w = (i * this.controlSize) >>> 2;
    const c = this.c32;
    c[w] = CMSG_HDR_SIZE + bytes;
    c[w + 1] = 0;
    c[w + 2] = level;
    c[w + 3] = type;
    c[w + 4] = bytes === 2 ? value & 0xffff : value;
    c[w + 5] = 0;
    return cmsgSpace(bytes);
  }

  /** Bytes sent or received by message i (the kernel's msg_len). */
  msgLen(i: number): number {
    return this.h32[(i * MMSGHDR_SIZE + MMSG_LEN) >>> 2];
  }

  msgFlags(i: number): number {
    return this.h32[(i * MMSGHDR_SIZE + MSG_FLAGS) >>> 2];
  }

  /** Control bytes the kernel filled in for message i. */
  controlLen(i: number): number {
    return this.h32[(i * MMSGHDR_SIZE + MSG_CONTROLLEN) >>> 2];
  }

  /**
   * The 32-bit value of the control message (level, type) the kernel gave message i, or -1.
   * Walks the cmsghdr chain of the message's control area.
   */
  findControl(i: number, level: number, type: number): number {
    const at = this.findControlData(i, level, type, 4);
    return at < 0 ? -1 : this.c32[at >>> 2];
  }

  /**
   * Where in `control` the data of the control message (level, type) of message i starts, when it
   * has at least `bytes` bytes; -1 when the kernel gave none.
   */
  findControlData(i: number, level: number, type: number, bytes: number): number {
    const base = i * this.controlSize;
    const end = base + Math.min(this.controlLen(i), this.controlSize);
    const c = this.c32;
    for (let p = base; p + CMSG_HDR_SIZE <= end; ) {
      const len = c[p >>> 2];
      if (len < CMSG_HDR_SIZE) return -1;
      if (c[(p >>> 2) + 2] === level && c[(p >>> 2) + 3] === type && p + CMSG_HDR_SIZE + bytes <= end && len >= CMSG_HDR_SIZE + bytes) return p + CMSG_HDR_SIZE;
      p += (len + 7) & ~7;
    }
    return -1;
  }

  /** IPv4 source address of message i (its name slot, a sockaddr_in), as an int32: compared, never boxed. */
  sourceIp(i: number): number {
    const b = this.names;
    const o = i * NAME_SIZE + SIN_ADDR;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  /**
   * Word k (0..3, most significant first) of the IPv6 source address of message i (its name slot,
   * a sockaddr_in6), as an int32: compared, never boxed.
   */
  sourceWord6(i: number, k: number): number {
    const b = this.names;
    const o = i * NAME_SIZE + SIN6_ADDR + k * 4;
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
  }

  /** sll_pkttype of message i's name slot (a struct sockaddr_ll: PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4). */
  packetType(i: number): number {
    return this.names[i * NAME_SIZE + SLL_PKTTYPE];
  }
}
