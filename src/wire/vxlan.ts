// VXLAN (RFC 7348) header: 8 bytes in front of the inner Ethernet frame, carried in UDP.
//   flags(1) reserved(3) VNI(3) reserved(1); flags must have the I bit (0x08).

export const VXLAN_HLEN = 8;
export const VXLAN_FLAG_I = 0x08;
export const VXLAN_PORT = 4789;
/** outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14): what a frame costs on an IPv4 underlay */
export const VXLAN_OVERHEAD = 50;
/** the same over an IPv6 underlay: the outer header is 40 bytes */
export const VXLAN_OVERHEAD6 = 70;

/** What an overlay frame carries more than the underlay's packet, by the underlay's family. */
export function vxlanOverhead(ipv6Underlay: boolean): number {
  return ipv6Underlay ? VXLAN_OVERHEAD6 : VXLAN_OVERHEAD;
}

/** The VNI of a header at `off`, or -1 when the I flag is missing. */
export function readVni(buf: Buffer, off: number): number {
  if ((buf[off] & VXLAN_FLAG_I) === 0) return -1;
  return (buf[off + 4] << 16) | (buf[off + 5] << 8) | buf[off + 6];
}

export function writeVxlanHeader(buf: Buffer, off: number, vni: number): void {
  buf[off] = VXLAN_FLAG_I;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = (vni >>> 16) & 0xff;
  buf[off + 5] = (vni >>> 8) & 0xff;
  buf[off + 6] = vni & 0xff;
  buf[off + 7] = 0;
}
