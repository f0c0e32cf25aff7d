/**
 * npm run demo [-- --tls | -- kv]: the demos. `kv` runs the KV store's (tools/demo/kv-demo.ts);
 * anything else goes to the lock service's (tools/demo/lock-demo.ts, the README's quick start),
 * which takes `--tls` and refuses other arguments. Each runs as it is imported and sets the
 * process's exit status.
 */
if (process.argv[2] === 'kv') await import('./demo/kv-demo.js');
else await import('./demo/lock-demo.js');
