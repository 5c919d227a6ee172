// Docker's legacy links (`--link CONTAINER[:ALIAS]`): a container asks that another container on
// the same network be known to it, and to it only, by an alias. The link names the other container;
// the embedded DNS resolves that name when it is asked (name-table.ts), so a link whose container
// left is broken and a container that comes back under the name mends it, as in Docker.

import type { ContainerLink, LinkRequest } from './api-types.js';
import { isDnsName } from './dns/name-table.js';
import { ApiFailure } from './gateway-api.js';
import type { LiveNetwork } from './live-network.js';

/** True when `alias` is one DNS label: 1 to 63 letters, digits, '-' and '_'. */
function isDnsLabel(alias: string): boolean {
  return !alias.includes('.') && isDnsName(alias);
}

/** Why a link cannot be, or null. */
function linkProblem(l: ContainerLink): string | null {
  if (l.name === '') return 'no container name';
  if (l.alias === '') return 'empty alias';
  if (!isDnsLabel(l.alias)) return `alias ${JSON.stringify(l.alias)} is not a DNS label (1 to 63 letters, digits, '-' and '_')`;
  return null;
}

/**
 * `CONTAINER[:ALIAS]` as Docker's `--link` takes it (the alias defaults to the name; Docker's own
 * `/db:/web/dbalias` form of HostConfig.Links too); throws an Error whose message is the reason.
 */
export function parseLink(text: string): ContainerLink {
  if (text === '') throw new Error('empty string specified for links');
  const [first, second, ...rest] = text.split(':') as [string, string?, ...string[]];
  if (rest.length > 0) throw new Error('bad format for links (expected CONTAINER[:ALIAS])');
  let link: ContainerLink;
  if (second === undefined) link = { name: first, alias: first };
  else if (first.startsWith('/')) link = { name: first.slice(1), alias: second.slice(second.lastIndexOf('/') + 1) };
  else link = { name: first, alias: second };
  const problem = linkProblem(link);
  if (problem !== null) throw new Error(problem);
  return link;
}

/** A link as Docker prints it (NetworkSettings.Networks.X.Links): "db:dbalias". */
export function linkText(l: ContainerLink): string {
  return `${l.name}:${l.alias}`;
}

/** The names of the containers on a network: its endpoints', and on an overlay those of other hosts. */
function containerNames(live: LiveNetwork): Set<string> {
  const names = new Set<string>();
  for (const ep of live.endpoints.values()) names.add(ep.record.name);
  for (const ep of live.remotes.values()) if (ep.name !== '') names.add(ep.name);
  return names;
}

/**
 * The links `self` asks for as it connects to `live`, checked: each well formed, one container per
 * alias, none to itself, each to a container on the network. One-line ApiFailures: 400 for a bad
 * link, 404 for a container not on the network.
 */
export function checkLinks(requested: readonly LinkRequest[], self: string, live: LiveNetwork): ContainerLink[] {
  if (requested.length === 0) return [];
  const names = containerNames(live);
  const network = live.record.name;
  const links: ContainerLink[] = [];
  for (const r of requested) {
    const text = typeof r === 'string' ? r : linkText({ name: r.name, alias: r.alias ?? r.name });
    let link: ContainerLink;
    try {
      link = parseLink(text);
    } catch (err) {
      throw new ApiFailure(400, `invalid link ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
    const taken = links.find((l) => l.alias.toLowerCase() === link.alias.toLowerCase());
    if (taken !== undefined) throw new ApiFailure(400, `invalid link ${JSON.stringify(text)}: alias ${link.alias} already links ${taken.name}`);
    if (link.name === self) throw new ApiFailure(400, `invalid link ${JSON.stringify(text)}: ${self} cannot link to itself`);
    if (!names.has(link.name)) throw new ApiFailure(404, `could not get container for ${link.name}: no container ${link.name} on network ${network}`);
    links.push(link);
  }
  return links;
}
