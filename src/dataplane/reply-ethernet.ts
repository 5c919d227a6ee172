// The Ethernet header of a frame the gateway sends back to whoever sent another (an ICMP error, a
// TCP reset): to the offending frame's source MAC, from the gateway's MAC on that network.

import { ETH_SRC, ETH_TYPE, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { putMac } from '../wire/mac.js';
import { copyBytes } from './frame-pool.js';
import type { Network } from './network.js';

/**
 * Writes at out[o] the header of an IPv4 (or `etherType`) frame answering the frame at buf[off];
 * `net` is the network it came from (undefined for the host's TUN port, whose packets carry no
 * real header).
 */
export function writeReplyEthernet(out: Buffer, o: number, buf: Buffer, off: number, net: Network | undefined, etherType = ETHERTYPE_IPV4): void {
  copyBytes(buf, off + ETH_SRC, off + ETH_TYPE, out, o);
  if (net !== undefined) putMac(out, o + ETH_SRC, net.gatewayMacHi, net.gatewayMacLo);
  else out.fill(0, o + ETH_SRC, o + ETH_TYPE);
  out[o + ETH_TYPE] = etherType >>> 8;
  out[o + ETH_TYPE + 1] = etherType & 0xff;
}
