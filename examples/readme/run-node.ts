import { startNode } from 'synod';
import counters from './counter-app.js';

// node dist/run-node.js 127.0.0.1:7001 /tmp/n1   (then :7003 /tmp/n2 and :7005 /tmp/n3)
const [me = '127.0.0.1:7001', dataDir = '/tmp/n1', first = '127.0.0.1:7001'] = process.argv.slice(2);
const node = await startNode({ me, first, dataDir, app: counters });
process.on('SIGTERM', () => void node.stop());
await node.ready; // a member of the cluster; rejects (JoinRefusedError) if it runs another app
