/**
 * A test-only node process that runs the Paxos layer alone (no config layer deciding views of
 * its own), on the production world (gRPC, files, real timers) with the test control service on
 * port + 1: what the Paxos real-process test drives. Flags as `synod node`.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createProductionWorld } from '../../src/runtime/node-world.js';
import { createLogger } from '../../src/runtime/logging.js';
import { PaxosLayer } from '../../src/paxos/paxos-layer.js';
import { Breakpoints } from '../../src/node/breakpoints.js';
import { ControlServer } from '../../src/node/control-server.js';
import { defaultControlAddress } from '../../src/node/synod-node.js';
import { defaultClusterName } from '../../src/env/cluster-name.js';
import { checkIdentity } from '../../src/node/identity.js';

const { values } = parseArgs({
  options: {
    me: { type: 'string' }, first: { type: 'string' }, 'data-dir': { type: 'string' }, 'cluster-id': { type: 'string' },
    control: { type: 'boolean' }, 'log-level': { type: 'string' }, 'log-file': { type: 'string' },
  },
});
const me = values.me!;
const first = values.first!;
const dataDir = values['data-dir']!;
const cluster = defaultClusterName(first);
// Paxos alone has no join protocol to learn the cluster id from: the test gives every node the same one.
const clusterId = values['cluster-id'] ?? 'paxos-test';
const logger = createLogger({ level: (values['log-level'] ?? 'debug') as 'debug', base: { node: me } });
try {
  const identity = checkIdentity(dataDir, { me, first, cluster, app: null, newClusterId: () => clusterId });
  identity.record();
  if (identity.identity.clusterId === null) identity.adoptClusterId(clusterId);
  const prod = await createProductionWorld({ self: me, cluster, clusterId, dataDir, logger });
  const breakpoints = new Breakpoints();
  const paxos = new PaxosLayer(prod.world, { first, breakpoints, listener: { onDecided: (i, v) => logger.info({ instance: i, value: v }, 'decided') } });
  prod.world.executor.submit(() => paxos.start());
  await ControlServer.listen(defaultControlAddress(me), {
    self: me, cluster, clusterId: () => clusterId, incarnation: randomUUID(), transport: prod.transport, breakpoints, paxos, config: null, logger,
    inNode: (fn) => {
      let result: { value: ReturnType<typeof fn> } | undefined;
      prod.world.executor.submit(() => (result = { value: fn() }));
      if (result === undefined) throw new Error('node stopping');
      return result.value;
    },
  });
} catch (err) {
  process.stderr.write(`paxos node refused to start: ${(err as Error).message}\n`);
  process.exit(1);
}
