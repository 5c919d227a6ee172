// Docker's plugin protocol as Docker 20.10 speaks it to a network and an IPAM driver: JSON over
// HTTP POSTs on a unix socket, one path per call (libnetwork's drivers/remote/api and
// ipams/remote/api). The request bodies are checked here, loosely: a newer Docker may send fields
// this file does not know, and those are ignored.

import { z } from 'zod';

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

/** The option of `docker network create -o` that carries the driver's own options. */
export const GENERIC_OPTION = 'com.docker.network.generic';
export const INTERNAL_OPTION = 'com.docker.network.internal';
export const MTU_OPTION = 'com.docker.network.driver.mtu';
export const PORTMAP_OPTION = 'com.docker.network.portmap';
/** RequestAddress for the network's gateway (not an endpoint's address) */
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway';

const id = z.string().regex(/^[0-9a-f]{64}$/, 'expected a 64-hex-digit id');
const options = z.record(z.string(), z.unknown()).nullish();

const networkRef = z.object({ NetworkID: id });
const endpointRef = z.object({ NetworkID: id, EndpointID: id });

/**
 * One subnet of CreateNetwork as the IPAM driver gave it: its pool, its gateway ("a.b.c.d/len")
 * and `--aux-address` NAME=IP as "a.b.c.d/len" (libnetwork's IPAMData; "<nil>" for an aux address
 * Docker's own IPAM left outside its --ip-range).
 */
const ipamData = z.object({
  AddressSpace: z.string().nullish(),
  Pool: z.string(),
  Gateway: z.string().nullish(),
  AuxAddresses: z.record(z.string(), z.string()).nullish(),
});
export type IpamData = z.output<typeof ipamData>;

export const createNetworkRequest = z.object({
  NetworkID: id,
  Options: options,
  IPv4Data: z.array(ipamData).nullish(),
  IPv6Data: z.array(ipamData).nullish(),
});

export const deleteNetworkRequest = networkRef;

export const createEndpointRequest = z.object({
  NetworkID: id,
  EndpointID: id,
  Interface: z.object({ Address: z.string().nullish(), AddressIPv6: z.string().nullish(), MacAddress: z.string().nullish() }).nullish(),
  Options: options,
});

export const endpointRequest = endpointRef;

export const joinRequest = z.object({ NetworkID: id, EndpointID: id, SandboxKey: z.string().min(1), Options: options });

export const externalConnectivityRequest = z.object({ NetworkID: id, EndpointID: id, Options: options });

/** One entry of `com.docker.network.portmap`: `-p [HostIP:][HostPort[-HostPortEnd]]:Port[/Proto]`. */
export const portBinding = z.object({
  Proto: z.number().int(),
  IP: z.string().nullish(),
  Port: z.number().int().min(1).max(65535),
  HostIP: z.string().nullish(),
  HostPort: z.number().int().min(0).max(65535),
  HostPortEnd: z.number().int().min(0).max(65535).nullish(),
});
export type PortBinding = z.output<typeof portBinding>;

export const requestPoolRequest = z.object({
  AddressSpace: z.string().nullish(),
  Pool: z.string().nullish(),
  SubPool: z.string().nullish(),
  Options: options,
  V6: z.boolean().nullish(),
});

export const releasePoolRequest = z.object({ PoolID: z.string().min(1) });

export const requestAddressRequest = z.object({ PoolID: z.string().min(1), Address: z.string().nullish(), Options: options });

export const releaseAddressRequest = z.object({ PoolID: z.string().min(1), Address: z.string().min(1) });

/** Reads a request body with `schema`; a body that does not fit is one line naming the first problem. */
export function parseRequest<T>(schema: z.ZodType<T>, body: unknown, call: string): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map(String).join('.');
  throw new PluginError(`invalid ${call} request: ${path === '' ? '' : `${path}: `}${issue.message}`);
}

/** A refusal sent back to Docker in the protocol's shape, which `docker` prints. */
export class PluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginError';
  }
}
