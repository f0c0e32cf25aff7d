import { AppRejectedError, connect } from 'synod';

const members = process.argv.length > 2 ? process.argv.slice(2) : ['127.0.0.1:7001', '127.0.0.1:7003'];
const client = await connect({ members });                     // any members will do
console.log(await client.invoke('add', { name: 'visits' }));   // 1, then 2, … on every run
try {
  await client.invoke('add', { name: '' });
} catch (err) {
  if (err instanceof AppRejectedError) console.log(err.code);    // bad-name
}
await client.close();
