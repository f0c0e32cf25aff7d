// A call that waits on the client's own timers (its node knows no primary, so the client backs
// off and asks again) must keep the process alive until it ends, here at its deadline.
import { DeadlineExceededError, connect } from 'synod';

const client = await connect({ members: process.argv.slice(2) });
try {
  await client.invoke('get', { name: 'visits' }, { deadlineMs: 1500 });
  console.log('answered?');
} catch (err) {
  if (!(err instanceof DeadlineExceededError)) throw err;
  console.log('deadline exceeded');
}
