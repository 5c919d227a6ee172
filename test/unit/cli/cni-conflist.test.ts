// `pontoon cni conflist NETWORK`: the .conflist printed for /etc/cni/net.d, and the CLI's one-line
// error when the network does not exist.

import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import { ApiRequestError, BACKEND, fakeClients } from './fixtures.js';

async function run(args: string[], answer: (method: string, path: string, body: unknown) => unknown) {
  const { calls, factory } = fakeClients(answer);
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => void (out += s), err: (s) => void (err += s) }, factory, {});
  return { code, out, err, calls };
}

describe('cni conflist', () => {
  it('prints a cniVersion 1.0.0 conflist naming the network, the socket and the capabilities', async () => {
    const r = await run(['cni', 'conflist', 'backend'], () => BACKEND);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(
      [
        '{',
        '  "cniVersion": "1.0.0",',
        '  "name": "backend",',
        '  "plugins": [',
        '    {',
        '      "type": "pontoon-cni",',
        '      "network": "backend",',
        '      "socket": "/run/pontoon/pontoon.sock",',
        '      "capabilities": {',
        '        "portMappings": true,',
        '        "ips": true,',
        '        "aliases": true',
        '      }',
        '    }',
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
    expect(r.calls).toEqual([{ socket: '/run/pontoon/pontoon.sock', method: 'GET', path: '/v1/networks/backend' }]);
  });

  it('writes the socket it asked and the runtime\'s name given with --name', async () => {
    const r = await run(['cni', 'conflist', BACKEND.Id.slice(0, 12), '--socket', '/tmp/p.sock', '--name', 'podnet'], () => BACKEND);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ name: 'podnet', plugins: [{ network: 'backend', socket: '/tmp/p.sock' }] });
    expect(r.calls).toEqual([{ socket: '/tmp/p.sock', method: 'GET', path: `/v1/networks/${BACKEND.Id.slice(0, 12)}` }]);
  });

  it('leaves portMappings out for a macvlan network: there is no port to publish on the LAN', async () => {
    const r = await run(['cni', 'conflist', 'backend'], () => ({ ...BACKEND, Driver: 'macvlan' }));
    expect(JSON.parse(r.out)).toMatchObject({ plugins: [{ type: 'pontoon-cni', capabilities: { ips: true, aliases: true } }] });
    expect(JSON.parse(r.out).plugins[0].capabilities).not.toHaveProperty('portMappings');
  });

  it('says so in one line when the network does not exist', async () => {
    const r = await run(['cni', 'conflist', 'nope'], () => {
      throw new ApiRequestError(404, 'network nope not found');
    });
    expect(r).toEqual({ code: 1, out: '', err: 'Error: network nope not found\n', calls: r.calls });
  });
});
