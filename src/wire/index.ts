/** Wire layer: packet views, representations and checksums. Imports nothing outside src/wire. */
export * from './error.js';
export * from './mac.js';
export * from './ipv4-address.js';
export * from './ipv6-address.js';
export * from './checksum.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmpv4.js';
export * from './udp.js';
export * from './tcp.js';
export * from './ipv6.js';
export * from './icmpv6.js';
export * from './ndp.js';
