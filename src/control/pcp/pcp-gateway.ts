// The NAT-PMP/PCP server put together: the mapping manager (with its state file and its expiry
// sweep), the responder, the socket, the announcements at start. The daemon makes one when
// nat.pcp.enabled and an uplink exist; the network service tells it of endpoints that leave.

import type { Logger } from 'pino';
import type { PortMappingResource } from '../api-types.js';
import { ipv4ToString } from '../../wire/ipv4-address.js';
import { Announcer, type AnnouncerDeps } from './announcer.js';
import { type MappingPins, MappingManager } from './mapping-manager.js';
import { PcpResponder, type PcpClient } from './pcp-responder.js';
import { PcpServer } from './pcp-server.js';
import { PcpStateFile } from './pcp-state.js';
import { PcpStats } from './pcp-stats.js';

const SWEEP_MS = 1000;

export interface PcpGatewayOptions {
  /** the host's address on the TUN link: the socket's */
  address: string;
  /** the uplink's address */
  externalAddress: number;
  maxMappingsPerEndpoint: number;
  maxLifetimeSeconds: number;
  stateDir: string;
  control: MappingPins & { sendDatagram: AnnouncerDeps['send'] };
  log: Logger;
}

/** What the gateway needs to know of the networks (the network service answers). */
export interface PcpNetworks {
  /** the endpoint with this address: its network's slot and whether it masquerades; null: none */
  endpointOf(ip: number): (PcpClient & { network: number }) | null;
  /** slots of the networks that masquerade through the uplink */
  masqueradingNetworks(): number[];
}

export class PcpGateway {
  readonly stats = new PcpStats();
  readonly manager: MappingManager;
  private networks: PcpNetworks | null = null;
  private server: PcpServer | null = null;
  private announcer: Announcer | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  /** clients the saved state knew: each gets a unicast ANNOUNCE */
  private known: { ip: number; port: number }[] = [];

  constructor(private readonly o: PcpGatewayOptions) {
    const warn = (msg: string, err: Error): void => o.log.warn({ err: err.message }, msg);
    this.manager = new MappingManager({
      pins: o.control,
      maxMappingsPerEndpoint: o.maxMappingsPerEndpoint,
      maxLifetimeSeconds: o.maxLifetimeSeconds,
      stats: this.stats,
      store: new PcpStateFile(o.stateDir, warn),
      warn,
    });
  }

  /**
   * After the network service restored the endpoints: takes back the saved mappings, binds the
   * socket, starts the expiry sweep and the announcements. Resolves to the socket's port (where
   * the data plane must send gateway:5351).
   */
  async start(networks: PcpNetworks): Promise<number> {
    this.networks = networks;
    const o = this.o;
    const restored = await this.manager.restore((ip) => networks.endpointOf(ip) !== null);
    this.known = restored.clients;
    const responder = new PcpResponder({ manager: this.manager, stats: this.stats, externalAddress: o.externalAddress, clientOf: (ip) => networks.endpointOf(ip) });
    const server = new PcpServer(responder, { address: o.address, log: o.log });
    await server.start();
    this.server = server;
    this.sweeper = setInterval(() => {
      void this.manager.sweep().catch((err: Error) => o.log.warn({ err: err.message }, 'PCP expiry sweep failed'));
    }, SWEEP_MS);
    this.sweeper.unref();
    o.log.info({ listen: `${o.address}:${server.port}`, adopted: restored.adopted, lost: restored.lost, epoch: this.manager.epoch() }, 'NAT-PMP/PCP server ready');
    return server.port;
  }

  /** The announcements (once the data plane sends gateway:5351 to the socket, so answers reach it). */
  announce(): void {
    const networks = this.networks;
    if (networks === null) return;
    this.announcer = new Announcer({
      send: (spec) => this.o.control.sendDatagram(spec),
      networks: () => networks.masqueradingNetworks(),
      networkOf: (ip) => networks.endpointOf(ip)?.network ?? null,
      epoch: () => this.manager.epoch(),
      externalAddress: this.o.externalAddress,
      warn: (msg, err) => this.o.log.warn({ err: err.message }, msg),
    });
    this.announcer.start(this.known);
  }

  /** The endpoint left: its mappings go (the network service calls this on disconnect). */
  endpointGone(ip: number): Promise<void> {
    return this.manager.endpointGone(ip);
  }

  /** An endpoint's mappings as `pontoon port` lists them, after its published ports. */
  portsOf(ip: number, network: string): PortMappingResource[] {
    return this.manager.mappingsOf(ip).map((m) => ({
      proto: m.proto === 17 ? 'udp' : 'tcp',
      hostIp: ipv4ToString(this.o.externalAddress),
      hostPort: m.externalPort,
      containerPort: m.internalPort,
      network,
      containerIp: ipv4ToString(m.internalIp),
      source: m.source === 'nat-pmp' ? 'nat-pmp' : m.opcode === 'peer' ? 'pcp-peer' : 'pcp',
      lifetimeSeconds: this.manager.remaining(m),
    }));
  }

  async close(): Promise<void> {
    this.announcer?.stop();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    await this.server?.close();
    this.server = null;
  }
}
