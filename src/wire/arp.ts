/** ARP (RFC 826), restricted to Ethernet hardware and IPv4 protocol addresses. */
import { WireError, checkRoom } from './error.js';
import { readMac, writeMac } from './mac.js';

export const ARP_HTYPE = 0;
export const ARP_PTYPE = 2;
export const ARP_HW_LEN = 4;
export const ARP_PROTO_LEN = 5;
export const ARP_OPER = 6;
export const ARP_SHA = 8;
export const ARP_SPA = 14;
export const ARP_THA = 18;
export const ARP_TPA = 24;
export const ARP_LEN = 28;

export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

const EMPTY = Buffer.alloc(0);

/** Re-pointable view of an Ethernet/IPv4 ARP packet; create once, `wrap` per packet. */
export class ArpPacket {
  buf: Buffer = EMPTY;
  off = 0;
  len = 0;

  /** Truncated if shorter than 28 bytes; Malformed unless htype 1, ptype 0x0800, hlen 6, plen 4. */
  wrap(buf: Buffer, off: number, len: number): number {
    this.buf = buf;
    this.off = off;
    this.len = len;
    if (off < 0 || len < 0 || off + len > buf.length) return WireError.Truncated;
    if (len < ARP_LEN) return WireError.Truncated;
    const b = buf;
    const o = off;
    if (
      ((b[o + ARP_HTYPE] << 8) | b[o + ARP_HTYPE + 1]) !== ARP_HTYPE_ETHERNET ||
      ((b[o + ARP_PTYPE] << 8) | b[o + ARP_PTYPE + 1]) !== ARP_PTYPE_IPV4 ||
      b[o + ARP_HW_LEN] !== 6 ||
      b[o + ARP_PROTO_LEN] !== 4
    ) {
      return WireError.Malformed;
    }
    return WireError.Ok;
  }

  get operation(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + ARP_OPER] << 8) | b[o + ARP_OPER + 1];
  }
  set operation(v: number) {
    const b = this.buf;
    const o = this.off;
    b[o + ARP_OPER] = (v >>> 8) & 0xff;
    b[o + ARP_OPER + 1] = v & 0xff;
  }

  get senderMac(): number {
    return readMac(this.buf, this.off + ARP_SHA);
  }
  set senderMac(mac: number) {
    writeMac(this.buf, this.off + ARP_SHA, mac);
  }

  get senderIp(): number {
    return read32(this.buf, this.off + ARP_SPA);
  }
  set senderIp(ip: number) {
    write32(this.buf, this.off + ARP_SPA, ip);
  }

  get targetMac(): number {
    return readMac(this.buf, this.off + ARP_THA);
  }
  set targetMac(mac: number) {
    writeMac(this.buf, this.off + ARP_THA, mac);
  }

  get targetIp(): number {
    return read32(this.buf, this.off + ARP_TPA);
  }
  set targetIp(ip: number) {
    write32(this.buf, this.off + ARP_TPA, ip);
  }
}

// ARP addresses sit at offsets 14 and 24: not 4-aligned, so plain byte arithmetic.
function read32(b: Buffer, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function write32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

export interface ArpRepr {
  operation: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export const ArpRepr = {
  bufferLen(_repr: ArpRepr): number {
    return ARP_LEN;
  },

  parse(p: ArpPacket): ArpRepr {
    return {
      operation: p.operation,
      senderMac: p.senderMac,
      senderIp: p.senderIp,
      targetMac: p.targetMac,
      targetIp: p.targetIp,
    };
  },

  /** Write all 28 bytes (including htype/ptype/hlen/plen); returns 28. */
  emit(repr: ArpRepr, buf: Buffer, off: number): number {
    checkRoom(buf, off, ARP_LEN);
    buf[off + ARP_HTYPE] = 0;
    buf[off + ARP_HTYPE + 1] = ARP_HTYPE_ETHERNET;
    buf[off + ARP_PTYPE] = ARP_PTYPE_IPV4 >>> 8;
    buf[off + ARP_PTYPE + 1] = ARP_PTYPE_IPV4 & 0xff;
    buf[off + ARP_HW_LEN] = 6;
    buf[off + ARP_PROTO_LEN] = 4;
    buf[off + ARP_OPER] = (repr.operation >>> 8) & 0xff;
    buf[off + ARP_OPER + 1] = repr.operation & 0xff;
    writeMac(buf, off + ARP_SHA, repr.senderMac);
    write32(buf, off + ARP_SPA, repr.senderIp);
    writeMac(buf, off + ARP_THA, repr.targetMac);
    write32(buf, off + ARP_TPA, repr.targetIp);
    return ARP_LEN;
  },
};
