import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { type ControlReply, type ControlRequest, ControlClient, type Remote, dispatch } from '../../../src/ports/control-channel.js';
import type { DataplaneHost as Host } from '../../../src/ports/dataplane-host.js';
import type { WorkerControl } from '../../../src/ports/worker-protocol.js';
import { packageRoot } from '../../e2e/harness.js';

interface Calculator {
  add(a: number, b: number): number;
  describe(name: string, tags: string[]): { name: string; tags: number };
  fail(reason: string): void;
  later(): Promise<number>;
}

class FakeCalculator implements Calculator {
  calls = 0;
  add(a: number, b: number): number {
    this.calls++;
    return a + b;
  }
  describe(name: string, tags: string[]): { name: string; tags: number } {
    return { name, tags: tags.length };
  }
  fail(reason: string): void {
    throw new Error(`refused: ${reason}`);
  }
  later(): Promise<number> {
    return Promise.resolve(1);
  }
}

/**
 * A client and a dispatcher on the two ends of a real MessageChannel. The answering end holds
 * requests until `hold` have arrived and answers them last first, so replies come back out of order.
 */
function channel(impl: object, hold = 1): { client: ControlClient<Calculator>; ports: MessagePort[] } {
  const { port1, port2 } = new MessageChannel();
  const client = new ControlClient<Calculator>((request) => port1.postMessage(request));
  port1.on('message', (reply: ControlReply) => client.receive(reply));
  const held: ControlRequest[] = [];
  port2.on('message', (request: ControlRequest) => {
    held.push(request);
    if (held.length < hold) return;
    while (held.length > 0) port2.postMessage(dispatch(impl, held.pop()!));
  });
  return { client, ports: [port1, port2] };
}

describe('control channel', () => {
  const open: MessagePort[] = [];
  afterEach(() => {
    for (const p of open.splice(0)) p.close();
  });
  const connect = (impl: object, hold?: number): ControlClient<Calculator> => {
    const c = channel(impl, hold);
    open.push(...c.ports);
    return c.client;
  };

  it('brings values back, typed', async () => {
    const fake = new FakeCalculator();
    const calc = connect(fake).remote;
    expectTypeOf(calc.add).toEqualTypeOf<(a: number, b: number) => Promise<number>>();
    expectTypeOf(calc.later).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(calc.fail).returns.toEqualTypeOf<Promise<void>>();
    expect(await calc.add(2, 3)).toBe(5);
    expect(await calc.describe('eth0', ['a', 'b'])).toEqual({ name: 'eth0', tags: 2 });
    expect(fake.calls).toBe(1);
  });

  it('works with a plain object as the implementation', async () => {
    const impl: Calculator = {
      add: (a, b) => a * 10 + b,
      describe: (name) => ({ name, tags: 0 }),
      fail: () => undefined,
      later: () => Promise.resolve(0),
    };
    expect(await connect(impl).remote.add(4, 2)).toBe(42);
  });

  it('turns a thrown error into a rejection with its message', async () => {
    const calc = connect(new FakeCalculator()).remote;
    await expect(calc.fail('slot 3 is in use')).rejects.toThrow(/^refused: slot 3 is in use$/);
    // the channel still answers afterwards
    expect(await calc.add(1, 1)).toBe(2);
  });

  it('answers an unknown operation with an error, never a crash', async () => {
    const client = connect(new FakeCalculator());
    const wider = client.remote as unknown as Remote<{ reboot(): void; toString(): string; constructor(): void }>;
    await expect(wider.reboot()).rejects.toThrow('unknown control operation "reboot"');
    // names every object has are not operations
    await expect(wider.toString()).rejects.toThrow('unknown control operation "toString"');
    await expect(wider.constructor()).rejects.toThrow('unknown control operation "constructor"');
    expect(await client.remote.add(2, 2)).toBe(4);
  });

  it('refuses an operation that returns a promise (the dispatcher is synchronous)', async () => {
    await expect(connect(new FakeCalculator()).remote.later()).rejects.toThrow('control operation later returned a promise');
  });

  it('resolves concurrent calls to their own replies, whatever the order they come back in', async () => {
    const calc = connect(new FakeCalculator(), 8).remote;
    const sums = Array.from({ length: 8 }, (_, i) => calc.add(i, 100));
    expect(await Promise.all(sums)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
  });

  it('answers a malformed request with an error', () => {
    const bad = { id: 7, op: 'add', args: 'not a list' } as unknown as ControlRequest;
    // arguments that are not a list are no arguments
    expect(dispatch(new FakeCalculator(), bad)).toEqual({ id: 7, ok: true, value: Number.NaN });
    expect(dispatch(new FakeCalculator(), { id: 8, op: 42, args: [] } as unknown as ControlRequest)).toEqual({
      id: 8,
      ok: false,
      error: 'unknown control operation 42',
    });
  });

  it('rejects a call its posting function refuses, and every call in flight on failAll', async () => {
    let up = false;
    const sent: ControlRequest[] = [];
    const client = new ControlClient<Calculator>((request) => {
      if (!up) throw new Error('the other side is not running');
      sent.push(request);
    });
    await expect(client.remote.add(1, 2)).rejects.toThrow('the other side is not running');
    up = true;
    const a = client.remote.add(1, 2);
    const b = client.remote.describe('x', []);
    expect(sent.map((r) => [r.op, r.args])).toEqual([
      ['add', [1, 2]],
      ['describe', ['x', []]],
    ]);
    client.failAll(new Error('gone'));
    await expect(a).rejects.toThrow('gone');
    await expect(b).rejects.toThrow('gone');
    // a late reply to a settled call is ignored
    client.receive({ id: sent[0]!.id, ok: true, value: 3 });
  });

  it('can be awaited or resolved with without calling the other side', async () => {
    const sent: ControlRequest[] = [];
    const client = new ControlClient<Calculator>((request) => sent.push(request));
    expect(await Promise.resolve(client.remote)).toBe(client.remote);
    expect(sent).toEqual([]);
  });
});

// The real worker behind DataplaneHost, with no devices (needs no root). Under vitest the host's
// source would start src/ports/dataplane-worker.js, which exists only as .ts: the built host is used,
// as the io_uring seccomp test does, and the test is skipped before a build.
const built = join(packageRoot(), 'dist', 'src', 'ports', 'dataplane-host.js');

describe.skipIf(!existsSync(built))('the data-plane worker through DataplaneHost (built)', () => {
  let host: Host;
  beforeAll(async () => {
    const { DataplaneHost } = (await import(built)) as typeof import('../../../src/ports/dataplane-host.js');
    host = new DataplaneHost({}, { batchSize: 16, busyPollUs: 0, backend: 'read-write', fallbackReason: 'unit test' });
  });
  afterAll(async () => {
    await host?.stop();
  });

  const net = (index: number, vni?: number) => ({
    index,
    name: `net${index}`,
    subnet: 0x0a140000 + index * 256,
    prefixLen: 24,
    gatewayIp: 0x0a140001 + index * 256,
    gatewayMac: 0x02420a140001,
    mtu: 1500,
    internal: false,
    vni,
  });

  it('adds networks, and answers with the data plane errors', async () => {
    await expect(host.control.addNetwork(net(3))).resolves.toBeUndefined();
    await expect(host.control.addNetwork(net(3))).rejects.toThrow('network slot 3 is in use');
    await expect(host.control.addPeer(3, 0xc0a80002)).rejects.toThrow('network slot 3 is not an overlay network');
    await host.control.removeNetwork(3);
    await host.control.addNetwork(net(3));
    await host.control.removeNetwork(3);
  });

  it('takes a remote endpoint as a spec and shows it in the snapshot', async () => {
    await host.control.addNetwork(net(4, 42));
    const ip = 0x0a140403;
    const mac = 0x02420a140403;
    await host.control.addRemoteEndpoint({ network: 4, ip, mac, vtepIp: 0xc0a80002 });
    const snap = await host.control.snapshot();
    expect(snap.io).toEqual({ backend: 'read/write', fallbackReason: 'unit test', busyPollUs: 0, underlay: null });
    expect(snap.ports).toEqual([]);
    expect(snap.neighbours).toEqual([expect.objectContaining({ network: 4, ip, mac })]);
    expect(snap.fdb).toEqual([expect.objectContaining({ network: 4, mac })]);
    await host.control.removeRemoteEndpoint(4, ip);
    expect((await host.control.snapshot()).neighbours).toEqual([]);
    await host.control.removeNetwork(4);
  });

  it('lists and flushes an empty conntrack table', async () => {
    expect(await host.control.conntrackList(10)).toEqual([]);
    expect(await host.control.conntrackFlush()).toBe(0);
  });

  it('answers an operation it does not have with an error, and keeps running', async () => {
    // the type allows no unknown name: widen it, as a caller across a version skew could
    const control = host.control as unknown as Remote<WorkerControl & { reboot(): void }>;
    await expect(control.reboot()).rejects.toThrow('unknown control operation "reboot"');
    expect((await host.control.snapshot()).ports).toEqual([]);
  });

  it('stops, and then refuses calls', async () => {
    await host.stop();
    await expect(host.control.snapshot()).rejects.toThrow('the data-plane worker is not running');
  });
});
