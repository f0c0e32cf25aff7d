// A wrong cluster name fails at once, naming both.
import { WrongClusterError, connect } from 'synod';

try {
  await connect({ members: process.argv.slice(2), cluster: 'not-this-one' });
  console.log('connected?');
} catch (err) {
  if (!(err instanceof WrongClusterError)) throw err;
  console.log(`wrong cluster: expected ${err.expected}, actual ${err.actual}`);
}
