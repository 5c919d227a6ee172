// What a Join does not tell, learnt once it has been answered. The container's namespace: it
// appears at the sandbox key when Docker starts the container, after Join, and Docker moves the TAP
// in and renames it (ethN). And names: Docker's calls carry ids only, so pontoon asks Docker's API
// (GET /networks/ID, GET /containers/ID/json) for the network's and the container's names and
// aliases: `pontoon network ls` shows Docker's names, and pontoon's DNS answers for Docker's
// containers, which Podman's containers and namespaces on the same network ask for. Never from
// inside a driver call: Docker holds its locks until the call is answered, and a request to it
// would wait for itself.

import { request } from 'node:http';
import type { Logger } from 'pino';
import { isDnsName } from '../dns/name-table.js';
import type { HostDevices } from '../host-devices.js';
import { NETWORK_NAME_RE } from '../ipam.js';
import type { LiveEndpoint, LiveNetwork } from '../live-network.js';
import type { MutationQueue } from '../mutation-queue.js';
import type { EndpointAttach } from '../network/endpoint-attach.js';
import type { LiveNetworks } from '../network/live-networks.js';
import { placeholderName } from './network-driver.js';

const STEP_MS = 100;
/** a container's start (its image mounted, its process made) may take this long after Join */
const SANDBOX_WAIT_MS = 120_000;
/** Docker lists a container on the network once its start has gone past the driver's calls */
const NAME_ATTEMPTS = 100;
const REQUEST_TIMEOUT_MS = 5000;

interface DockerNetworkInspect {
  Name?: string;
  Containers?: Record<string, { Name?: string; EndpointID?: string }>;
}

interface DockerContainerInspect {
  Name?: string;
  NetworkSettings?: { Networks?: Record<string, { EndpointID?: string; Aliases?: string[] | null }> };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export class JoinFollowUp {
  private warned = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      /** Docker's API socket, e.g. /run/docker.sock; null: names are never asked for */
      apiSocket: string | null;
      queue: MutationQueue;
      networks: LiveNetworks;
      attach: EndpointAttach;
      devices: Pick<HostDevices, 'findInterfaceByMac' | 'resolveNetns'>;
      log: Logger;
    },
  ) {}

  stop(): void {
    this.stopped = true;
  }

  /** A Docker network was made: its name in pontoon becomes Docker's. */
  networkCreated(live: LiveNetwork): void {
    void this.follow(live.record.id, null);
  }

  /** A container joined: the device's name in it, the container's name and aliases. */
  joined(live: LiveNetwork, ep: LiveEndpoint): void {
    void this.follow(live.record.id, ep.record.id);
  }

  /** After a restart: whatever was not learned before. */
  resume(): void {
    for (const live of this.deps.networks.values()) {
      if (live.record.dockerNetworkId === undefined) continue;
      if (live.record.name === placeholderName(live.record.dockerNetworkId)) void this.follow(live.record.id, null);
      for (const ep of live.endpoints.values()) {
        const r = ep.record;
        if (r.engine === 'docker' && (r.netnsIno === 0 || r.name === r.id.slice(0, 12))) void this.follow(live.record.id, r.id);
      }
    }
  }

  private async follow(networkId: string, endpointId: string | null): Promise<void> {
    if (endpointId !== null && !(await this.settle(networkId, endpointId))) return;
    if (this.deps.apiSocket !== null) await this.learnNames(networkId, endpointId, this.deps.apiSocket);
  }

  /** The endpoint, while it is still joined. */
  private endpoint(networkId: string, endpointId: string): { live: LiveNetwork; ep: LiveEndpoint } | null {
    const live = this.deps.networks.get(networkId);
    const ep = live?.endpoints.get(endpointId);
    return live === undefined || ep === undefined ? null : { live, ep };
  }

  /** Waits for the container's namespace and the device in it; false when the endpoint left first or they never came. */
  private async settle(networkId: string, endpointId: string): Promise<boolean> {
    const { devices, attach, queue } = this.deps;
    for (let waited = 0; waited < SANDBOX_WAIT_MS && !this.stopped; waited += STEP_MS) {
      const found = this.endpoint(networkId, endpointId);
      if (found === null) return false;
      const r = found.ep.record;
      try {
        if (r.netnsIno === 0) {
          const ns = devices.resolveNetns(r.netnsPath);
          await queue.run(async () => attach.sandboxKnown(found.ep, ns));
        }
        const ifName = await devices.findInterfaceByMac(r.netnsPath, r.mac);
        if (ifName !== null) {
          await queue.run(async () => attach.rename(found.live, found.ep, { ifName }));
          return true;
        }
      } catch {
        // not there yet
      }
      await sleep(STEP_MS);
    }
    this.deps.log.warn({ endpoint: endpointId.slice(0, 12) }, "the container's namespace or its device did not appear after Join");
    return false;
  }

  private async learnNames(networkId: string, endpointId: string | null, apiSocket: string): Promise<void> {
    for (let attempt = 0; attempt < NAME_ATTEMPTS && !this.stopped; attempt++) {
      if (attempt > 0) await sleep(STEP_MS * 2);
      const live = this.deps.networks.get(networkId);
      const dockerId = live?.record.dockerNetworkId;
      if (live === undefined || dockerId === undefined) return;
      const ep = endpointId === null ? null : live.endpoints.get(endpointId);
      if (ep === undefined) return; // it left meanwhile
      try {
        const net = await this.get<DockerNetworkInspect>(apiSocket, `/networks/${dockerId}`);
        if (net.Name !== undefined) await this.deps.queue.run(async () => this.renameNetwork(networkId, net.Name!));
        if (ep === null) return;
        const entry = Object.entries(net.Containers ?? {}).find(([, c]) => c.EndpointID === ep.record.id);
        if (entry === undefined) continue;
        const ctr = await this.get<DockerContainerInspect>(apiSocket, `/containers/${entry[0]}/json`);
        const name = (ctr.Name ?? entry[1].Name ?? '').replace(/^\//, '');
        const aliases = Object.values(ctr.NetworkSettings?.Networks ?? {}).find((n) => n.EndpointID === ep.record.id)?.Aliases ?? [];
        await this.deps.queue.run(async () => this.nameEndpoint(networkId, ep.record.id, name, aliases));
        return;
      } catch (err) {
        // Docker asks the driver before it records the network: not found yet is asked again
        if (err instanceof DockerApiError && err.status === 404 && attempt + 1 < NAME_ATTEMPTS) continue;
        if (!this.warned) this.deps.log.warn({ socket: apiSocket, err: (err as Error).message }, "cannot ask Docker's API for names: Docker's containers keep their endpoint ids as names");
        this.warned = true;
        return;
      }
    }
  }

  private renameNetwork(networkId: string, name: string): void {
    const { networks, log } = this.deps;
    const live = networks.get(networkId);
    if (live === undefined || live.record.dockerNetworkId === undefined || live.record.name === name) return;
    if (live.record.name !== placeholderName(live.record.dockerNetworkId)) return; // named with -o pontoon.name
    // an overlay's name is the cluster's, on every host: it keeps the one it was made with
    if (live.record.driver === 'overlay') return;
    if (!NETWORK_NAME_RE.test(name) || networks.find(name) !== undefined) {
      log.warn({ network: live.record.name, docker: name }, "Docker's name of the network is taken in pontoon: it keeps its own");
      return;
    }
    live.record.name = name;
    networks.save();
    log.info({ network: name, docker: live.record.dockerNetworkId.slice(0, 12) }, 'docker network named');
  }

  private nameEndpoint(networkId: string, endpointId: string, name: string, aliases: string[]): void {
    const live = this.deps.networks.get(networkId);
    const ep = live?.endpoints.get(endpointId);
    if (live === undefined || ep === undefined) return;
    const taken = [...live.endpoints.values()].some((e) => e !== ep && e.record.name === name);
    const usable = name !== '' && isDnsName(name) && !taken;
    this.deps.attach.rename(live, ep, {
      ...(usable ? { name } : {}),
      aliases: aliases.filter((a) => isDnsName(a) && a !== name),
    });
  }

  private get<T>(socketPath: string, path: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath, path, method: 'GET', timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new DockerApiError(`GET ${path}: ${res.statusCode} ${text.trim().slice(0, 200)}`, res.statusCode ?? 0));
            return;
          }
          try {
            resolve(JSON.parse(text) as T);
          } catch (e) {
            reject(new Error(`GET ${path}: ${(e as Error).message}`));
          }
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
      req.on('error', reject);
      req.end();
    });
  }
}

/** An answer of Docker's API other than 200, with its status. */
class DockerApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}
