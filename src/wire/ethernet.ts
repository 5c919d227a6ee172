/** Ethernet II framing (IEEE 802.3 with EtherType). */
import { WireError, checkRoom } from './error.js';
import { readMac, writeMac } from './mac.js';

export const ETH_DST = 0;
export const ETH_SRC = 6;
export const ETH_TYPE = 12;
export const ETH_HLEN = 14;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
/** Length of an 802.1Q tag (TPID + TCI) inserted before the real EtherType. */
export const VLAN_TAG_LEN = 4;

// Shared placeholder so a fresh view holds a Buffer, not undefined (keeps the class shape monomorphic).
const EMPTY = Buffer.alloc(0);

/** Re-pointable view of an Ethernet frame; create once, `wrap` per frame. */
/** The EtherType of the (already length-checked) Ethernet frame at buf[off]. */
export function etherTypeOf(buf: Buffer, off: number): number {
  return (buf[off + ETH_TYPE] << 8) | buf[off + ETH_TYPE + 1];
}

export class EthernetPacket {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Point at buf[off, off+len); validates once so accessors need no bounds checks. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < ETH_HLEN) return WireError.Truncated;
    return WireError.Ok;
  }

  get dst(): number {
    return readMac(this.buf, this.off + ETH_DST);
  }
  set dst(mac: number) {
    writeMac(this.buf, this.off + ETH_DST, mac);
  }

  get src(): number {
    return readMac(this.buf, this.off + ETH_SRC);
  }
  set src(mac: number) {
    writeMac(this.buf, this.off + ETH_SRC, mac);
  }

  get etherType(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ETH_TYPE] << 8) | b[o + ETH_TYPE + 1];
  }
  set etherType(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ETH_TYPE] = (v >>> 8) & 0xff;
    b[o + ETH_TYPE + 1] = v & 0xff;
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + ETH_HLEN;
  }

  /** Payload bytes available (may include Ethernet padding after an IP packet). */
  get payloadLength(): number {
    return this.len - ETH_HLEN;
  }
}

export interface EthernetRepr {
  dst: number;
  src: number;
  etherType: number;
}

export const EthernetRepr = {
  /** Header length emit() writes. */
  bufferLen(_repr: EthernetRepr): number {
    return ETH_HLEN;
  },

  /** Header fields of a wrapped frame. */
  parse(p: EthernetPacket): EthernetRepr {
    return { dst: p.dst, src: p.src, etherType: p.etherType };
  },

  /** Write the 14-byte header at buf[off]; returns bytes written. */
  emit(repr: EthernetRepr, buf: Buffer, off: number): number {
    checkRoom(buf, off, ETH_HLEN);
    writeMac(buf, off + ETH_DST, repr.dst);
    writeMac(buf, off + ETH_SRC, repr.src);
    buf[off + ETH_TYPE] = (repr.etherType >>> 8) & 0xff;
    buf[off + ETH_TYPE + 1] = repr.etherType & 0xff;
    return ETH_HLEN;
  },
};
