// Seeds for the fuzz targets: frames read from pcap files (tcpdump -w, any of Ethernet, Linux
// cooked v1/v2 or raw IP link types) and the literal frames of the unit tests, each turned into
// the input format of its target. A seed file is named by the content's SHA-1, as libFuzzer names
// corpus files, so adding the same seed twice changes nothing.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Packet {
  /** link type of the capture: 1 Ethernet, 101 raw IP, 113 Linux cooked v1, 276 Linux cooked v2 */
  linkType: number;
  /** capture time in microseconds */
  ts: number;
  data: Buffer;
}

/** The packets of a classic pcap file (either byte order, micro- or nanosecond stamps). */
export function readPcap(file: Buffer): Packet[] {
  const magic = file.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) throw new Error('not a pcap file (pcapng is not read: tcpdump writes pcap)');
  const u32 = (at: number): number => (le ? file.readUInt32LE(at) : file.readUInt32BE(at));
  const linkType = u32(20) & 0xffff;
  const nano = (le ? magic : file.readUInt32BE(0)) === 0xa1b23c4d;
  const out: Packet[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const caplen = u32(at + 8);
    const start = at + 16;
    if (start + caplen > file.length) break;
    out.push({ linkType, ts: u32(at) * 1e6 + (nano ? u32(at + 4) / 1000 : u32(at + 4)), data: Buffer.from(file.subarray(start, start + caplen)) });
    at = start + caplen;
  }
  return out;
}

/** What a captured packet is at the network layer: its IPv4 packet or ARP message, and its Ethernet frame when it had one. */
export function networkLayer(p: Packet): { ethertype: number; payload: Buffer; ethernet: Buffer | null } | null {
  const d = p.data;
  if (p.linkType === 1 && d.length >= 14) return { ethertype: d.readUInt16BE(12), payload: d.subarray(14), ethernet: d };
  if (p.linkType === 113 && d.length >= 16) return { ethertype: d.readUInt16BE(14), payload: d.subarray(16), ethernet: null };
  if (p.linkType === 276 && d.length >= 20) return { ethertype: d.readUInt16BE(0), payload: d.subarray(20), ethernet: null };
  if (p.linkType === 101 && d.length >= 1 && d[0] >> 4 === 4) return { ethertype: 0x0800, payload: d, ethernet: null };
  return null;
}

/** The UDP payload of an IPv4 packet to or from `port` (DNS, NAT-PMP/PCP), or null. */
export function udpPayload(ip: Buffer, port: number, dir: 'to' | 'from' | 'either' = 'either'): Buffer | null {
  if (ip.length < 28 || ip[0] >> 4 !== 4 || ip[9] !== 17) return null;
  const ihl = (ip[0] & 15) * 4;
  if ((ip.readUInt16BE(6) & 0x3fff) !== 0 || ip.length < ihl + 8) return null;
  const sport = ip.readUInt16BE(ihl);
  const dport = ip.readUInt16BE(ihl + 2);
  const ok = dir === 'to' ? dport === port : dir === 'from' ? sport === port : sport === port || dport === port;
  return ok ? ip.subarray(ihl + 8, Math.min(ip.length, ip.readUInt16BE(2))) : null;
}

/** Writes a seed into `dir` under its SHA-1; returns whether it was new. */
export function writeSeed(dir: string, bytes: Buffer): boolean {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, createHash('sha1').update(bytes).digest('hex'));
  if (existsSync(path)) return false;
  writeFileSync(path, bytes);
  return true;
}
