// struct virtio_net_hdr (10 bytes), in front of every frame on a TUN/TAP opened with IFF_VNET_HDR:
// it carries checksum offload (the L4 checksum is left partial: only the pseudo-header sum) and
// segmentation offload (one frame of up to 64 KiB stands for many MSS-sized TCP segments).
// Fields are in the host's byte order (little-endian on the supported targets).

export const VNET_HDR_LEN = 10;
export const VNET_FLAGS = 0;
export const VNET_GSO_TYPE = 1;
export const VNET_HDR_LENGTH = 2;
export const VNET_GSO_SIZE = 4;
export const VNET_CSUM_START = 6;
export const VNET_CSUM_OFFSET = 8;

export const VNET_F_NEEDS_CSUM = 1;
export const VNET_F_DATA_VALID = 2;

export const VNET_GSO_NONE = 0;
export const VNET_GSO_TCPV4 = 1;
export const VNET_GSO_UDP = 3;
export const VNET_GSO_TCPV6 = 4;
export const VNET_GSO_ECN = 0x80;

export function readLe16(buf: Buffer, off: number): number {
  return buf[off] | (buf[off + 1] << 8);
}

export function writeLe16(buf: Buffer, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}
