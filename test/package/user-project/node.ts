// One node of the user's cluster: `node dist/node.js ME FIRST DATA_DIR`.
import { startNode } from 'synod';
import { counters } from './app.js';

const [me, first, dataDir] = process.argv.slice(2);
if (me === undefined || first === undefined || dataDir === undefined) throw new Error('usage: node.js ME FIRST DATA_DIR');
const node = await startNode({ me, first, dataDir, app: counters, logLevel: 'warn' });
console.log(`ready ${node.address} ${node.status().vid}`);
process.on('SIGTERM', () => {
  void node.stop().then(() => process.exit(0));
});
