// ICMP errors about masqueraded flows: the error quotes the translated packet; the gateway finds
// the flow through the quoted header and rewrites the quote, the outer header and every checksum
// so that the container sees an error about the packet it sent (traceroute, path-MTU discovery).
// Frames are literal, produced with scapy (legend in fixture.ts), compared byte for byte.

import { describe, expect, it } from 'vitest';
import { Drop } from '../../../src/dataplane/counters.js';
import { ACK_C1, drain, hex, makeNatWorld, SYN_C1, SYNACK_X10 } from './fixture.js';

// traceroute probe with TTL 2
// scapy: fromC1(IP(src=C1, dst=X10, ttl=2, id=0x7100)/UDP(sport=40001, dport=33434)/Raw(b'traceroute-probe'))
const TRACE_C1 = hex('0250000000010242ac11000208004500002c7100000002115fa3ac110002cb00710a9c41829a0018d75b7472616365726f7574652d70726f6265');
// scapy: toUp(IP(src=UP, dst=X10, ttl=1, id=0x7100)/UDP(sport=40001, dport=33434)/Raw(b'traceroute-probe'))
const TRACE_C1_OUT = hex('02005e0000010250000000ff08004500002c710000000111e280c6336402cb00710a9c41829a001859397472616365726f7574652d70726f6265');
// the router: time exceeded, quoting the probe as it left the uplink
// scapy: fromUp(IP(src=RT, dst=UP, ttl=64, id=0x7200)/ICMP(type=11, code=0)/Raw(ipq(TRACE_C1_OUT)))
const TE_RT = hex('0250000000ff02005e000001080045000048720000004001b44ac6336401c63364020b005b6a000000004500002c710000000111e280c6336402cb00710a9c41829a001859397472616365726f7574652d70726f6265');
// expected at c1: quoting the probe as c1 sent it (but TTL 1)
// scapy: toC1(IP(src=RT, dst=C1, ttl=63, id=0x7200)/ICMP(type=11, code=0)/IP(src=C1, dst=X10, ttl=1, id=0x7100)/UDP(sport=40001, dport=33434)/Raw(b'traceroute-probe'))
const TE_AT_C1 = hex('0242ac110002025000000001080045000048720000003f01336dc6336401ac1100020b00dd47000000004500002c71000000011160a3ac110002cb00710a9c41829a0018d75b7472616365726f7574652d70726f6265');
// a full-sized segment (DF)
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x1002, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='PA', window=502)/Raw(DATA))
const DATA_C1 = hex(
  '0250000000010242ac1100020800450005a01002400040063d38ac110002cb00710a9c400050000003e900001389501801f6313c0000030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e' +
  '454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa' +
  '01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6' +
  'bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b72' +
  '7980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e' +
  '353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3ea' +
  'f1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6' +
  'adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b62' +
  '6970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e' +
  '252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da' +
  'e1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f96' +
  '9da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b52' +
  '5960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e' +
  '151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3ca' +
  'd1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d44',
);
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x1002, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='PA', window=502)/Raw(DATA))
const DATA_C1_OUT = hex(
  '02005e0000010250000000ff0800450005a0100240003f06c015c6336402cb00710a9c400050000003e900001389501801f6b3190000030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e' +
  '454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa' +
  '01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6' +
  'bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b72' +
  '7980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e' +
  '353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3ea' +
  'f1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6' +
  'adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b62' +
  '6970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e' +
  '252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da' +
  'e1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f96' +
  '9da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b52' +
  '5960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e' +
  '151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3ca' +
  'd1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d44',
);
// the router: fragmentation needed (MTU 1400), quoting 548 bytes of the segment
// scapy: fromUp(IP(src=RT, dst=UP, ttl=64, id=0x7300)/ICMP(type=3, code=4, nexthopmtu=1400)/Raw(ipq(DATA_C1_OUT, 548)))
const FRAG_RT = hex(
  '0250000000ff02005e000001080045000240730000004001b152c6336401c633640203049cc400000578450005a0100240003f06c015c6336402cb00710a9c400050000003e900001389501801f6b3190000030a11181f262d343b424950575e656c737a' +
  '81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f36' +
  '3d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2' +
  'f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7ae' +
  'b5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a' +
  '71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0',
);
// expected at c1: the first 548 bytes of the segment as c1 sent it (TTL 63)
// scapy: toC1(IP(src=RT, dst=C1, ttl=63, id=0x7300)/ICMP(type=3, code=4, nexthopmtu=1400)/Raw(raw(IP(src=C1, dst=X10, ttl=63, id=0x1002, flags='DF')/TCP(sport=40000, dport=80, seq=1001, ack=5001, flags='PA', window=502)/Raw(DATA))[:548]))
const FRAG_AT_C1 = hex(
  '0242ac110002025000000001080045000240730000003f013075c6336401ac11000203041ea200000578450005a0100240003f063e38ac110002cb00710a9c400050000003e900001389501801f6313c0000030a11181f262d343b424950575e656c737a' +
  '81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f36' +
  '3d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2' +
  'f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7ae' +
  'b5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a' +
  '71787f868d949ba2a9b0b7bec5ccd3dae1e8eff6fd040b121920272e353c434a51585f666d747b828990979ea5acb3bac1c8cfd6dde4ebf2f900070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0',
);
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x7400)/UDP(sport=40003, dport=33435)/Raw(b'anyone-there'))
const PROBE_C1 = hex('0250000000010242ac1100020800450000287400000040111ea7ac110002cb00710a9c43829b0014a746616e796f6e652d7468657265');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0x7400)/UDP(sport=40003, dport=33435)/Raw(b'anyone-there'))
const PROBE_C1_OUT = hex('02005e0000010250000000ff080045000028740000003f11a184c6336402cb00710a9c43829b00142924616e796f6e652d7468657265');
// 203.0.113.10 itself: port unreachable
// scapy: fromUp(IP(src=X10, dst=UP, ttl=60, id=0x7500)/ICMP(type=3, code=3)/Raw(ipq(PROBE_C1_OUT)))
const UNREACH_X10 = hex('0250000000ff02005e000001080045000044750000003c01a378cb00710ac6336402030363630000000045000028740000003f11a184c6336402cb00710a9c43829b00142924616e796f6e652d7468657265');
// scapy: toC1(IP(src=X10, dst=C1, ttl=59, id=0x7500)/ICMP(type=3, code=3)/IP(src=C1, dst=X10, ttl=63, id=0x7400)/UDP(sport=40003, dport=33435)/Raw(b'anyone-there'))
const UNREACH_AT_C1 = hex('0242ac110002025000000001080045000044750000003b01229bcb00710aac1100020303e5400000000045000028740000003f111fa7ac110002cb00710a9c43829b0014a746616e796f6e652d7468657265');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x4000, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PING_C1 = hex('0250000000010242ac11000208004500002840004000400112b7ac110002cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// c2 with the same identifier (and TTL 2, as traceroute -I)
// scapy: fromC2(IP(src=C2, dst=X10, ttl=2, id=0x4100, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const PING_C2 = hex('0250000000010242ac1100030800450000284100400002014fb6ac110003cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// identifier translated to 1024, the first of the range
// scapy: toUp(IP(src=UP, dst=X10, ttl=1, id=0x4100, flags='DF')/ICMP(type=8, id=1024, seq=1)/Raw(b'pontoon-ping'))
const PING_C2_OUT = hex('02005e0000010250000000ff080045000028410040000101d294c6336402cb00710a080058ad04000001706f6e746f6f6e2d70696e67');
// time exceeded quoting the echo request whose identifier was translated
// scapy: fromUp(IP(src=RT, dst=UP, ttl=64, id=0x7600)/ICMP(type=11, code=0)/Raw(ipq(PING_C2_OUT)))
const TE_PING_RT = hex('0250000000ff02005e000001080045000044760000004001b04ec6336401c63364020b00f4ff0000000045000028410040000101d294c6336402cb00710a080058ad04000001706f6e746f6f6e2d70696e67');
// scapy: toC2(IP(src=RT, dst=C2, ttl=63, id=0x7600)/ICMP(type=11, code=0)/IP(src=C2, dst=X10, ttl=1, id=0x4100, flags='DF')/ICMP(type=8, id=0x0777, seq=1)/Raw(b'pontoon-ping'))
const TE_PING_AT_C2 = hex('0242ac110003025000000001080045000044760000003f012f70c6336401ac1100030b00f4ff000000004500002841004000010150b6ac110003cb00710a0800553607770001706f6e746f6f6e2d70696e67');
// a probe whose checksum (as c1 sends it) computes to 0, sent as 0xffff
// scapy: fromC1(IP(src=C1, dst=X10, ttl=2, id=0x7800)/UDP(sport=40005, dport=33434)/Raw(xx(C1, X10, 40005, 33434, b'probe-')))
const TRACE2_C1 = hex('0250000000010242ac11000208004500002478000000021158abac110002cb00710a9c45829a0010ffff70726f62652db3cd');
// scapy: toUp(IP(src=UP, dst=X10, ttl=1, id=0x7800)/UDP(sport=40005, dport=33434)/Raw(xx(C1, X10, 40005, 33434, b'probe-')))
const TRACE2_C1_OUT = hex('02005e0000010250000000ff080045000024780000000111db88c6336402cb00710a9c45829a001081dd70726f62652db3cd');
// scapy: fromUp(IP(src=RT, dst=UP, ttl=64, id=0x7900)/ICMP(type=11, code=0)/Raw(ipq(TRACE2_C1_OUT)))
const TE2_RT = hex('0250000000ff02005e000001080045000040790000004001ad52c6336401c63364020b005b620000000045000024780000000111db88c6336402cb00710a9c45829a001081dd70726f62652db3cd');
// the quoted checksum must be 0xffff, not 0 (which would mean "no checksum")
// scapy: toC1(IP(src=RT, dst=C1, ttl=63, id=0x7900)/ICMP(type=11, code=0)/IP(src=C1, dst=X10, ttl=1, id=0x7800)/UDP(sport=40005, dport=33434)/Raw(xx(C1, X10, 40005, 33434, b'probe-')))
const TE2_AT_C1 = hex('0242ac110002025000000001080045000040790000003f012c75c6336401ac1100020b00dd3f000000004500002478000000011159abac110002cb00710a9c45829a0010ffff70726f62652db3cd');
// about a flow that does not exist
// scapy: fromUp(IP(src=RT, dst=UP, ttl=64, id=0x7700)/ICMP(type=11, code=0)/IP(src=UP, dst=X10, ttl=1, id=0x7101)/UDP(sport=40999, dport=33434)/Raw(b'traceroute-probe'))
const TE_NOFLOW_RT = hex('0250000000ff02005e000001080045000048770000004001af4ac6336401c63364020b005b6a000000004500002c710100000111e27fc6336402cb00710aa027829a001855537472616365726f7574652d70726f6265');
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0x2000)/UDP(sport=5353, dport=53)/Raw(b'pontoon-udp-query'))
const UDP_C1 = hex('0250000000010242ac11000208004500002d20000000401172a2ac110002cb00710a14e9003500191085706f6e746f6f6e2d7564702d7175657279');
// scapy: fromUp(IP(src=X10, dst=UP, ttl=50, id=0x3000)/UDP(sport=53, dport=5353)/Raw(b'pontoon-udp-answer'))
const UDP_X10 = hex('0250000000ff02005e00000108004500002e300000003211f27ecb00710ac6336402003514e9001aa7f0706f6e746f6f6e2d7564702d616e73776572');
// c1 closed its socket: port unreachable about the answer
// scapy: fromC1(IP(src=C1, dst=X10, ttl=64, id=0xa200)/ICMP(type=3, code=3)/Raw(ipq(UDP_X10_AT_C1)))
const C1_UNREACH = hex('0250000000010242ac11000208004500004aa20000004001f094ac110002cb00710a0303e546000000004500002e30000000311171a1cb00710aac110002003514e9001a2613706f6e746f6f6e2d7564702d616e73776572');
// scapy: toUp(IP(src=UP, dst=X10, ttl=63, id=0xa200)/ICMP(type=3, code=3)/IP(src=X10, dst=UP, ttl=49, id=0x3000)/UDP(sport=53, dport=5353)/Raw(b'pontoon-udp-answer'))
const C1_UNREACH_OUT = hex('02005e0000010250000000ff08004500004aa20000003f017372c6336402cb00710a03036369000000004500002e300000003111f37ecb00710ac6336402003514e9001aa7f0706f6e746f6f6e2d7564702d616e73776572');

const h = (frames: Buffer[]): string[] => frames.map((f) => f.toString('hex'));

/** RFC 1071 over a range: 0 when the range holds a correct checksum. */
function sum(b: Buffer, off: number, len: number, initial = 0): number {
  let s = initial;
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

describe('ICMP errors about masqueraded flows', () => {
  it('translates a time exceeded from the router about a UDP probe back to c1', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, TRACE_C1);
    expect(h(w.uplink.take())).toEqual(h([TRACE_C1_OUT])); // leaves with TTL 1
    w.dp.receive(w.ids.uplink, TE_RT);
    const got = w.c1.take();
    expect(h(got)).toEqual(h([TE_AT_C1]));
    expect(drain(w)).toBe(0);
    // the checksums the byte comparison covers, spelled out: outer IP, ICMP, quoted IP, quoted UDP
    const f = got[0];
    expect(sum(f, 14, 20)).toBe(0);
    expect(sum(f, 34, f.length - 34)).toBe(0);
    expect(sum(f, 42, 20)).toBe(0);
    const udpLen = f.length - 62;
    expect(sum(f, 62, udpLen, 0xac11 + 0x0002 + 0xcb00 + 0x710a + 17 + udpLen)).toBe(0);
  });

  it('translates a fragmentation needed (MTU 1400) about a TCP segment, quoted in part', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, SYN_C1);
    w.dp.receive(w.ids.uplink, SYNACK_X10);
    w.dp.receive(w.ids.c1, ACK_C1);
    drain(w);
    w.dp.receive(w.ids.c1, DATA_C1);
    expect(h(w.uplink.take())).toEqual(h([DATA_C1_OUT]));
    w.dp.receive(w.ids.uplink, FRAG_RT);
    const got = w.c1.take();
    expect(h(got)).toEqual(h([FRAG_AT_C1]));
    expect(got[0].readUInt16BE(14 + 20 + 6)).toBe(1400); // next-hop MTU kept
    expect(drain(w)).toBe(0);
  });

  it('translates a port unreachable sent by the destination itself (outer source kept)', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, PROBE_C1);
    expect(h(w.uplink.take())).toEqual(h([PROBE_C1_OUT]));
    w.dp.receive(w.ids.uplink, UNREACH_X10);
    expect(h(w.c1.take())).toEqual(h([UNREACH_AT_C1]));
    expect(drain(w)).toBe(0);
  });

  it('restores a translated echo identifier in the quote (and the quoted ICMP checksum)', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, PING_C1); // takes identifier 0x0777
    w.dp.receive(w.ids.c2, PING_C2);
    expect(h(w.uplink.take().slice(1))).toEqual(h([PING_C2_OUT])); // 0x0777 -> 1024
    w.dp.receive(w.ids.uplink, TE_PING_RT);
    expect(h(w.c2.take())).toEqual(h([TE_PING_AT_C2]));
    expect(drain(w)).toBe(0);
  });

  it('writes a quoted UDP checksum that computes to 0 as 0xffff', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, TRACE2_C1);
    expect(h(w.uplink.take())).toEqual(h([TRACE2_C1_OUT]));
    w.dp.receive(w.ids.uplink, TE2_RT);
    const got = w.c1.take();
    expect(h(got)).toEqual(h([TE2_AT_C1]));
  });

  it('translates an error a container sends about an answer it received, on its way out', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, UDP_C1);
    w.dp.receive(w.ids.uplink, UDP_X10);
    drain(w);
    w.dp.receive(w.ids.c1, C1_UNREACH);
    expect(h(w.uplink.take())).toEqual(h([C1_UNREACH_OUT])); // no private address leaves
    expect(drain(w)).toBe(0);
  });

  it('drops an error from outside about no flow, counted as no_mapping', () => {
    const w = makeNatWorld();
    w.dp.receive(w.ids.c1, TRACE_C1);
    drain(w);
    w.dp.receive(w.ids.uplink, TE_NOFLOW_RT);
    expect(drain(w)).toBe(0);
    expect(w.dp.counters.drops[Drop.NoMapping]).toBe(1);
  });
});
