// A service as the state file and the cluster store keep it, and the parsing of what a request
// says about one (port, affinity, VIP), each failing with one line naming the service and the reason.

import { z } from 'zod';
import { ApiFailure } from '../gateway-api.js';

/** Kubernetes' default client-ip affinity timeout (sessionAffinityConfig.clientIP.timeoutSeconds). */
export const DEFAULT_AFFINITY_SECONDS = 10800;
/** Kubernetes' largest. */
export const MAX_AFFINITY_SECONDS = 86400;

export interface ServiceRecord {
  id: string;
  name: string;
  /** the network's id */
  network: string;
  proto: 'tcp' | 'udp';
  port: number;
  targetPort: number;
  vip: string;
  /** the VIP is an address of the network's subnet (claimed there), not of services.cidr */
  vipInSubnet: boolean;
  /** every endpoint with this alias is a backend; absent: the named containers are */
  selector?: string;
  backends?: string[];
  /** 0: no affinity */
  affinitySeconds: number;
  /** the published host port; absent: none */
  publish?: number;
  created: string;
}

export const serviceRecordSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  network: z.string().min(1),
  proto: z.enum(['tcp', 'udp']),
  port: z.number().int().min(1).max(65535),
  targetPort: z.number().int().min(1).max(65535),
  vip: z.string().min(1),
  vipInSubnet: z.boolean(),
  selector: z.string().min(1).optional(),
  backends: z.array(z.string().min(1)).optional(),
  affinitySeconds: z.number().int().min(0).max(MAX_AFFINITY_SECONDS),
  publish: z.number().int().min(1).max(65535).optional(),
  created: z.string(),
});

export const servicesFileSchema = z.object({ version: z.literal(1), services: z.array(serviceRecordSchema) });

/** "80", "80/tcp", "53/udp" → protocol and port. */
export function parseServicePort(name: string, text: string): { proto: 'tcp' | 'udp'; port: number } {
  const m = /^([0-9]{1,5})(?:\/(tcp|udp))?$/.exec(text);
  const port = m === null ? NaN : Number(m[1]);
  if (m === null || port < 1 || port > 65535) throw new ApiFailure(400, `service ${name}: invalid port ${JSON.stringify(text)}: expected PORT[/tcp|udp] with PORT 1-65535`);
  return { proto: (m[2] as 'tcp' | 'udp' | undefined) ?? 'tcp', port };
}

/** "none", "client-ip", "client-ip:SECONDS" → the affinity timeout in seconds (0: none). */
export function parseAffinity(name: string, text: string | undefined): number {
  if (text === undefined || text === 'none') return 0;
  const m = /^client-ip(?::([0-9]{1,6}))?$/.exec(text);
  const seconds = m === null ? NaN : m[1] === undefined ? DEFAULT_AFFINITY_SECONDS : Number(m[1]);
  if (m === null || seconds < 1 || seconds > MAX_AFFINITY_SECONDS) {
    throw new ApiFailure(400, `service ${name}: invalid affinity ${JSON.stringify(text)}: expected none, client-ip or client-ip:SECONDS (1-${MAX_AFFINITY_SECONDS})`);
  }
  return seconds;
}

/** A port number of a request: an integer 1-65535. */
export function checkPortNumber(name: string, what: string, n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ApiFailure(400, `service ${name}: invalid ${what} ${n}: expected 1-65535`);
  return n;
}
