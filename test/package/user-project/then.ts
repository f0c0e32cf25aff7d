// The same without await or close: the pending call alone keeps the process alive.
import { connect } from 'synod';

void connect({ members: process.argv.slice(2) })
  .then((client) => client.invoke('get', { name: 'visits' }))
  .then((value) => console.log(`got ${JSON.stringify(value)}`));
