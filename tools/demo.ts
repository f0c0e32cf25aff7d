/**
 * npm run demo [-- kv]: the demos. Without an argument, the lock service's (tools/demo/lock-demo.ts,
 * the README's quick start); `kv`, the KV store's (tools/demo/kv-demo.ts). Each runs as it is
 * imported and sets the process's exit status.
 */
const which = process.argv[2];
if (which === undefined) await import('./demo/lock-demo.js');
else if (which === 'kv') await import('./demo/kv-demo.js');
else {
  process.stderr.write(`usage: npm run demo [-- kv]\n  (nothing: the lock service's demo; kv: the KV store's)\nunknown demo ${which}\n`);
  process.exitCode = 2;
}
