// The cluster store's key layout in etcd (values are JSON):
//   <prefix>/networks/<id>              OverlayNetworkDef                    no lease
//   <prefix>/names/<name>               "<id>"                               no lease
//   <prefix>/vnis/<vni>                 "<id>"                               no lease
//   <prefix>/ipam/<network>/<ip>        {"owner": ..., "host": <hostId>}     this host's lease
//   <prefix>/vteps/<network>/<vtep>     {"vtep": <vtep>}                     this host's lease
//   <prefix>/endpoints/<network>/<id>   OverlayEndpointDef                   this host's lease
//   <prefix>/peers/<network>/<vtep>     ForeignPeerDef                       no lease
// A foreign peer (pontoon peer add) writes its peers/ key together with a vteps/ key ({"vtep": ...,
// "foreign": true}), an ipam/ key per address and an endpoints/ key per address with a MAC, none
// under a lease: the hosts see it as a member through the keys they already watch.

/** What a key that produces events describes: a network, or one of its VTEPs or endpoints. */
export type Member =
  | { kind: 'network'; networkId: string }
  | { kind: 'vtep'; networkId: string; vtep: string }
  | { kind: 'endpoint'; networkId: string; endpointId: string };

/** The keys under one prefix, and what a key under it describes. */
export class EtcdKeys {
  /** the prefix without a trailing slash, e.g. "/pontoon" */
  readonly p: string;

  constructor(prefix: string) {
    this.p = prefix.replace(/\/+$/, '');
  }

  networkKey = (id: string) => `${this.p}/networks/${id}`;
  nameKey = (name: string) => `${this.p}/names/${name}`;
  vniKey = (vni: number) => `${this.p}/vnis/${vni}`;
  ipamDir = (net: string) => `${this.p}/ipam/${net}/`;
  vtepDir = (net: string) => `${this.p}/vteps/${net}/`;
  endpointDir = (net: string) => `${this.p}/endpoints/${net}/`;
  peerDir = (net: string) => `${this.p}/peers/${net}/`;

  /** The directories holding every member key, read together when the state is read. */
  memberDirs(): string[] {
    return [`${this.p}/networks/`, `${this.p}/vteps/`, `${this.p}/endpoints/`];
  }

  /** Which member a key describes; null for the keys that produce no events (names, vnis, ipam). */
  classify(key: string): Member | null {
    if (!key.startsWith(`${this.p}/`)) return null;
    const parts = key.slice(this.p.length + 1).split('/');
    if (parts[0] === 'networks' && parts.length === 2 && parts[1]) return { kind: 'network', networkId: parts[1] };
    if (parts[0] === 'vteps' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'vtep', networkId: parts[1], vtep: parts[2] };
    if (parts[0] === 'endpoints' && parts.length === 3 && parts[1] && parts[2]) return { kind: 'endpoint', networkId: parts[1], endpointId: parts[2] };
    return null;
  }
}

/** A key's JSON value, or undefined when it is not JSON. */
export function parseJson<T>(s: string): T | undefined {
  try {
    return JSON.parse(s) as T;
  } catch {
    return undefined;
  }
}
