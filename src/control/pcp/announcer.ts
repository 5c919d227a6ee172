// Announcements at start: NAT-PMP's public address (RFC 6886 §3.2.1) and PCP's ANNOUNCE (RFC 6887
// §14.1.3), multicast to 224.0.0.1:5350 on every masquerading network, ten times at intervals from
// 250 ms doubling, plus one unicast ANNOUNCE to each client the saved state knows. Clients compare
// the epoch with what they expect and refresh their mappings when state was lost.

import { ALL_HOSTS_GROUP, PCP_CLIENT_PORT, PCP_SERVER_PORT } from './pcp-codes.js';
import { natPmpAddressResponse, pcpAnnounce } from './response-encode.js';

export interface AnnouncerDeps {
  send(spec: { network: number; srcPort: number; dstIp: number; dstPort: number; payload: Uint8Array }): Promise<void>;
  /** data-plane slots of the networks whose containers may map (not internal) */
  networks(): number[];
  /** the data-plane slot of the network of an endpoint, null when it is gone */
  networkOf(ip: number): number | null;
  epoch(): number;
  externalAddress: number;
  warn(msg: string, err: Error): void;
}

export const ANNOUNCE_COUNT = 10;
export const ANNOUNCE_FIRST_MS = 250;

export class Announcer {
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;

  constructor(private readonly d: AnnouncerDeps) {}

  /** Starts the multicast series and unicasts one ANNOUNCE to each known client. */
  start(clients: { ip: number; port: number }[]): void {
    for (const c of clients) {
      const network = this.d.networkOf(c.ip);
      if (network === null) continue;
      const port = c.port === 0 ? PCP_CLIENT_PORT : c.port;
      void this.d.send({ network, srcPort: PCP_SERVER_PORT, dstIp: c.ip, dstPort: port, payload: pcpAnnounce(this.d.epoch()) }).catch((err: Error) => this.d.warn('cannot send an ANNOUNCE', err));
    }
    this.next();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.sent = ANNOUNCE_COUNT;
  }

  private next(): void {
    if (this.sent >= ANNOUNCE_COUNT) return;
    void this.multicast();
    const delay = ANNOUNCE_FIRST_MS * 2 ** this.sent;
    this.sent++;
    if (this.sent < ANNOUNCE_COUNT) {
      this.timer = setTimeout(() => this.next(), delay);
      this.timer.unref();
    }
  }

  private async multicast(): Promise<void> {
    const epoch = this.d.epoch();
    const natpmp = natPmpAddressResponse(0, epoch, this.d.externalAddress);
    const pcp = pcpAnnounce(epoch);
    for (const network of this.d.networks()) {
      for (const payload of [natpmp, pcp]) {
        await this.d.send({ network, srcPort: PCP_SERVER_PORT, dstIp: ALL_HOSTS_GROUP, dstPort: PCP_CLIENT_PORT, payload }).catch((err: Error) => this.d.warn('cannot send an announcement', err));
      }
    }
  }
}
