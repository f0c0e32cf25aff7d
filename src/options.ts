/**
 * Every tunable of synod: each option with its default and the reason for it, one file per
 * district under src/options/. Units are last in every name. Layers take a `Partial` of their
 * options and fill the rest from these defaults (`withDefaults`); `limits` bound what synod
 * accepts from the network.
 */
export * from './options/limits.js';
export * from './options/with-defaults.js';
export * from './options/paxos.js';
export * from './options/config.js';
export * from './options/rsm.js';
export * from './options/client.js';
export * from './options/callbacks.js';
export * from './options/transport.js';
export * from './options/call-streams.js';
export * from './options/tls.js';
export * from './options/observe.js';
export * from './options/feeds.js';
export * from './options/leases.js';
