// Turns captures into seed files of the fuzz targets (see README "Fuzzing"):
//   node dist/test/fuzz/make-seeds.js pipeline <ingress>=<file.pcap> [<ingress>=<file.pcap> ...]
//     every Ethernet frame (raw IPv4 packet for `host`) of each capture becomes one seed of one
//     record on that ingress; and all of them, merged by capture time, become flow seeds of up to
//     16 records each (so a TCP handshake seen on c1 and on the uplink is one input)
//   node dist/test/fuzz/make-seeds.js dns <file.pcap>...   DNS queries (UDP to port 53), no upstream answer
//   node dist/test/fuzz/make-seeds.js pcp <file.pcap>...   NAT-PMP/PCP requests (UDP to port 5351)
//   node dist/test/fuzz/make-seeds.js literals             the literal frames of the unit tests
// Seeds go to test/fuzz/corpus/<target>/, named by their SHA-1.

import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { networkLayer, readPcap, udpPayload, writeSeed } from './corpus-tools.js';
import { dnsInput } from './dns-input.js';
import { literalSeeds } from './literal-seeds.js';
import { encodeRecord } from './pipeline-harness.js';
import { INGRESS, type Ingress } from './world.js';

export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fuzz/corpus/', import.meta.url));
const FLOW_RECORDS = 16;

function pipelineSeeds(specs: string[]): number {
  const dir = join(CORPUS_DIR, 'pipeline');
  let added = 0;
  const timeline: { ts: number; rec: Buffer }[] = [];
  for (const spec of specs) {
    const [ingress, file] = spec.split('=') as [Ingress, string];
    if (!INGRESS.includes(ingress) || file === undefined) throw new Error(`expected <ingress>=<file.pcap> with an ingress of ${INGRESS.join(' ')}: ${spec}`);
    for (const p of readPcap(readFileSync(file))) {
      const l3 = networkLayer(p);
      if (l3 === null) continue;
      let frame: Buffer | null = l3.ethernet;
      if (ingress === 'host') frame = l3.ethertype === 0x0800 ? l3.payload : null;
      // the underlay's datagrams: VXLAN header and inner frame, from the remote endpoint's VTEP
      if (ingress === 'underlay') frame = l3.ethertype === 0x0800 ? udpPayload(l3.payload, 4789, 'to') : null;
      if (frame === null) continue;
      if (ingress === 'cv') frame = Buffer.concat([Buffer.alloc(10), frame]); // a virtio-net header with no offloads
      const rec = encodeRecord(ingress, frame, ingress === 'underlay' ? { vtep: 1 } : {});
      if (writeSeed(dir, rec)) added++;
      timeline.push({ ts: p.ts, rec });
    }
  }
  timeline.sort((a, b) => a.ts - b.ts);
  for (let i = 0; i < timeline.length; i += FLOW_RECORDS) {
    const flow = Buffer.concat(timeline.slice(i, i + FLOW_RECORDS).map((t) => t.rec));
    if (writeSeed(dir, flow)) added++;
  }
  return added;
}

function udpSeeds(target: string, port: number, files: string[], wrap: (payload: Buffer) => Buffer = (p) => p): number {
  let added = 0;
  for (const file of files) {
    for (const p of readPcap(readFileSync(file))) {
      const l3 = networkLayer(p);
      if (l3 === null || l3.ethertype !== 0x0800) continue;
      const payload = udpPayload(l3.payload, port, 'to');
      if (payload !== null && payload.length > 0 && writeSeed(join(CORPUS_DIR, target), wrap(payload))) added++;
    }
  }
  return added;
}

function main(argv: string[]): void {
  const [what, ...rest] = argv;
  let added: number;
  if (what === 'pipeline') added = pipelineSeeds(rest);
  else if (what === 'dns') added = udpSeeds('dns', 53, rest, (q) => dnsInput(q));
  else if (what === 'pcp') added = udpSeeds('pcp', 5351, rest);
  else if (what === 'literals') {
    added = 0;
    for (const s of literalSeeds()) if (writeSeed(join(CORPUS_DIR, s.target), s.bytes)) added++;
  } else {
    process.stderr.write('usage: make-seeds pipeline <ingress>=<file.pcap>... | dns <file.pcap>... | pcp <file.pcap>... | literals\n');
    process.exit(2);
  }
  process.stdout.write(`${added} new seeds\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
