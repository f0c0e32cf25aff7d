// connect() refuses bad addresses at once, and gives up on addresses where nothing answers with
// a DiscoveryError naming what each said, at its deadline.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiscoveryError, InvalidArgumentError, connect } from '../../src/index.js';
import { freePortPairs } from '../../tools/harness/ports.js';

test('an address that is not host:port, or none at all, is refused at once', async () => {
  for (const members of [['127.0.0.1'], ['not an address'], ['127.0.0.1:0'], []]) {
    await assert.rejects(connect({ members }), (err: unknown) => err instanceof InvalidArgumentError && err.field === 'members', JSON.stringify(members));
  }
});

test('where nothing listens, connect gives up at its deadline naming every address and what it said', async () => {
  const ports = await freePortPairs(2);
  const members = ports.map((p) => `127.0.0.1:${p}`);
  await assert.rejects(connect({ members, timing: { connectDeadlineMs: 500, connectRetryMs: 50 } }), (err: unknown) =>
    err instanceof DiscoveryError && members.every((m) => err.message.includes(m)) && [...err.tried.values()].every((said) => /UNAVAILABLE/.test(said)));
});
