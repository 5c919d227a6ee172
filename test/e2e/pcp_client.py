#!/usr/bin/env python3
"""A PCP client for the tests, written from RFC 6887's wire format with struct alone.

Prints one JSON object per exchange. Subcommands:
  map      --gw GW --client IP --proto tcp|udp --port P [--suggest S] [--lifetime L] [--nonce HEX]
           [--prefer-failure] [--third-party IP] [--extra-bytes N]
  peer     the same plus --remote IP:PORT
  announce --gw GW --client IP                  (an ANNOUNCE request: the epoch)
  raw      --gw GW --hex BYTES                  (any datagram; the answer's bytes, or a timeout)
  listen   --seconds N                          (binds 0.0.0.0:5350, prints what arrives)
The request goes from --bind (default 0.0.0.0:0) to GW:5351, --tries times (default 2) 1 s apart.
"""
import argparse, json, os, socket, struct, sys, time

SERVER_PORT, CLIENT_PORT = 5351, 5350
PROTO = {'tcp': 6, 'udp': 17}
RESULTS = ['SUCCESS', 'UNSUPP_VERSION', 'NOT_AUTHORIZED', 'MALFORMED_REQUEST', 'UNSUPP_OPCODE', 'UNSUPP_OPTION',
           'MALFORMED_OPTION', 'NETWORK_FAILURE', 'NO_RESOURCES', 'UNSUPP_PROTOCOL', 'USER_EX_QUOTA',
           'CANNOT_PROVIDE_EXTERNAL', 'ADDRESS_MISMATCH', 'EXCESSIVE_REMOTE_PEERS']


def v4mapped(ip):
    """A 128-bit address field holding an IPv4 address (RFC 6887 section 5)."""
    return b'\0' * 10 + b'\xff\xff' + socket.inet_aton(ip)


def unmapped(b):
    return socket.inet_ntoa(b[12:16]) if b[:12] == b'\0' * 10 + b'\xff\xff' else b.hex()


def header(opcode, lifetime, client):
    # version 2, R=0 and the opcode, 16 reserved bits, lifetime, the client's address
    return struct.pack('!BBHI', 2, opcode, 0, lifetime) + v4mapped(client)


def map_data(a):
    nonce = bytes.fromhex(a.nonce) if a.nonce else os.urandom(12)
    return nonce + struct.pack('!B3xHH', PROTO[a.proto], a.port, a.suggest) + v4mapped('0.0.0.0')


def options(a):
    out = b''
    if a.third_party:
        out += struct.pack('!BBH', 1, 0, 16) + v4mapped(a.third_party)
    if getattr(a, 'prefer_failure', False):
        out += struct.pack('!BBH', 2, 0, 0)
    return out


def decode(b):
    if len(b) < 24:
        return {'short': b.hex()}
    version, r_op, _, result, lifetime, epoch = struct.unpack('!BBBBII', b[:12])
    out = {'version': version, 'opcode': r_op & 0x7f, 'response': bool(r_op & 0x80), 'result': RESULTS[result] if result < len(RESULTS) else result,
           'lifetime': lifetime, 'epoch': epoch, 'length': len(b)}
    if r_op & 0x7f in (1, 2) and len(b) >= 60:
        d = b[24:60]
        out['nonce'] = d[:12].hex()
        out['protocol'], out['internalPort'], out['externalPort'] = struct.unpack('!B3xHH', d[12:20])
        out['externalAddress'] = unmapped(d[20:36])
    if r_op & 0x7f == 2 and len(b) >= 80:
        out['remotePort'] = struct.unpack('!H', b[60:62])[0]
        out['remoteAddress'] = unmapped(b[64:80])
    return out


def exchange(a, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    host, port = a.bind.rsplit(':', 1)
    s.bind((host, int(port)))
    for attempt in range(a.tries):
        s.sendto(payload, (a.gw, SERVER_PORT))
        s.settimeout(1.0)
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            continue
        out = decode(data)
        out['from'] = '%s:%d' % peer
        out['raw'] = data.hex()
        return out
    return {'timeout': True}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('cmd', choices=['map', 'peer', 'announce', 'raw', 'listen'])
    p.add_argument('--gw')
    p.add_argument('--client')
    p.add_argument('--bind', default='0.0.0.0:0')
    p.add_argument('--proto', default='tcp')
    p.add_argument('--port', type=int, default=0)
    p.add_argument('--suggest', type=int, default=0)
    p.add_argument('--lifetime', type=int, default=3600)
    p.add_argument('--nonce')
    p.add_argument('--prefer-failure', action='store_true')
    p.add_argument('--third-party')
    p.add_argument('--remote')
    p.add_argument('--hex')
    p.add_argument('--seconds', type=float, default=5)
    p.add_argument('--tries', type=int, default=2, help='sends before giving up, 1 s apart')
    p.add_argument('--extra-bytes', type=int, default=0, help='zero bytes appended to the request (malformed lengths)')
    a = p.parse_args()
    if a.cmd == 'map':
        out = exchange(a, header(1, a.lifetime, a.client) + map_data(a) + options(a) + b'\0' * a.extra_bytes)
    elif a.cmd == 'peer':
        rip, rport = a.remote.rsplit(':', 1)
        body = map_data(a) + struct.pack('!H2x', int(rport)) + v4mapped(rip)
        out = exchange(a, header(2, a.lifetime, a.client) + body + options(a))
    elif a.cmd == 'announce':
        out = exchange(a, header(0, 0, a.client))
    elif a.cmd == 'raw':
        out = exchange(a, bytes.fromhex(a.hex))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('0.0.0.0', CLIENT_PORT))
        print(json.dumps({'listening': CLIENT_PORT}), flush=True)
        deadline = time.time() + a.seconds
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                data, peer = s.recvfrom(2048)
            except socket.timeout:
                break
            print(json.dumps({'from': '%s:%d' % peer, 'raw': data.hex()}), flush=True)
        return
    print(json.dumps(out), flush=True)


main()
