// A plain script: connect, call, print, exit. No keep-alive tricks.
import { AppRejectedError, connect } from 'synod';

const client = await connect({ members: process.argv.slice(2) });
const total = await client.invoke('add', { name: 'visits', by: 5 });
console.log(`total ${JSON.stringify(total)} cluster ${client.cluster}`);
try {
  await client.invoke('add', { name: 'visits', by: -1 });
} catch (err) {
  if (!(err instanceof AppRejectedError)) throw err;
  console.log(`refused ${err.code}`);
}
await client.close();
