/**
 * A process of the KV demo that registers a service with ephemeral keys: it grants a lease of
 * TTL seconds, puts `services/NAME` and `services/NAME/port` attached to it, prints one JSON line
 * `{"lease": ID, "keys": [...]}` and keeps the lease alive until it is killed. Killed, its
 * keepalives stop, and the store deletes its keys once the lease's TTL runs out.
 *
 *   node dist/tools/demo/kv-demo-ephemeral.js MEMBERS(comma-separated) NAME TTL
 */
import { connectKv } from '../../src/apps/kv/kv-client.js';

const [list, name, ttl] = process.argv.slice(2);
if (list === undefined || name === undefined || ttl === undefined) {
  process.stderr.write('usage: kv-demo-ephemeral MEMBERS NAME TTL\n');
  process.exit(2);
}
const kv = await connectKv({ members: list.split(',') });
const lease = await kv.grantLease(Number(ttl));
const keys = [`services/${name}`, `services/${name}/port`];
await kv.put(keys[0]!, `pid ${process.pid}`, { lease: lease.id });
await kv.put(keys[1]!, String(9000 + (process.pid % 1000)), { lease: lease.id });
process.stdout.write(`${JSON.stringify({ lease: lease.id, keys })}\n`);
// The lease's timers do not hold a process open by themselves: this process lives to keep it.
setInterval(() => {}, 1 << 30);
void lease.lost.then((lost) => {
  process.stderr.write(`lease ${lost.id} lost: ${lost.detail}\n`);
  process.exit(1);
});
