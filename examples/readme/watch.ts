import { connect } from 'synod';

// Against `synod node --app kv` (the KV store's `watch` feed): every change under config/, as it happens.
const client = await connect({ members: process.argv.slice(2) });
for await (const { events } of client.feed('watch', { key: 'config/', prefix: true })) {
  for (const e of events) console.log(e.position, JSON.stringify(e.event));
}
