import type {
  ConnectRequest,
  ConntrackEntryResource,
  PortMappingResource,
  DisconnectRequest,
  EndpointResource,
  NetworkCreateRequest,
  NetworkResource,
  NetworkSummary,
  StatusReport,
  PeerAddRequest,
  PeerResource,
  CountersReport,
  ServiceCreateRequest,
  ServiceResource,
} from './api-types.js';

/** An error the API reports to its caller: an HTTP status and a one-line message naming the object and the reason. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }
}

/** What the daemon offers to the API server; implemented by the network service. */
export interface GatewayApi {
  listNetworks(): NetworkSummary[];
  createNetwork(req: NetworkCreateRequest): Promise<NetworkResource>;
  inspectNetwork(nameOrId: string): NetworkResource;
  removeNetwork(nameOrId: string): Promise<void>;
  connect(network: string, req: ConnectRequest): Promise<EndpointResource>;
  disconnect(network: string, req: DisconnectRequest): Promise<void>;
  status(): Promise<StatusReport>;
  /** Published ports of a namespace (`pontoon port`). */
  ports(netns: string): PortMappingResource[];
  conntrackList(): Promise<ConntrackEntryResource[]>;
  /** Removes every tracked connection; resolves to how many there were. */
  conntrackFlush(): Promise<number>;
  /** Foreign VTEPs of an overlay network (`pontoon peer`); null: of every overlay network. */
  listPeers(network: string | null): Promise<PeerResource[]>;
  addPeer(network: string, req: PeerAddRequest): Promise<PeerResource>;
  removePeer(network: string, vtep: string): Promise<void>;
  /** The data plane's counters now (`pontoon top` takes two samples). */
  counters(): Promise<CountersReport>;
  /** Services (`pontoon service`): a VIP DNATed to its backends. */
  listServices(): Promise<ServiceResource[]>;
  createService(req: ServiceCreateRequest): Promise<ServiceResource>;
  inspectService(name: string): ServiceResource;
  removeService(name: string): Promise<void>;
}
