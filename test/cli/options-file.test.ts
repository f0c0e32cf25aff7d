// Proves `synod node --options FILE`: every refusal of a bad file names what is wrong (a usage
// error, exit 2, before the node listens), and a good file's options take effect on a real
// process: a node whose transport.maxMessageBytes is 8 KiB serves a small call and refuses a
// 10 KB one at once as an invalid request (a message too large is never retried as load), and
// an answer too large for the client is an unknown outcome, never "not executed".
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeOptions } from '../../src/cli/options-file.js';
import { UsageError } from '../../src/cli/args.js';
import { NodeProcess } from '../../tools/harness/node-process.js';
import { freePortPairs } from '../../tools/harness/ports.js';
import { runSynod } from '../../tools/harness/cli-run.js';
import { DeadlineExceededError, InvalidArgumentError, type SynodClient, connect } from '../../src/index.js';

const refused = (text: string, pattern: RegExp): void => {
  assert.throws(() => parseNodeOptions(text, 'o.json'), (err: unknown) => {
    assert.ok(err instanceof UsageError, String(err));
    assert.match(err.message, pattern);
    return true;
  });
};

test('an options file is refused, naming what is wrong, when it is not JSON, not an object, names an unknown district or option, or gives a bad value', () => {
  refused('{"config": ', /^--options o\.json is not JSON/);
  refused('[1]', /must hold a JSON object/);
  refused('{"consensus": {}}', /"consensus" is not a district of options; known: paxos, config, rsm, callbacks, transport/);
  refused('{"config": 5}', /"config" must be an object of options/);
  refused('{"config": {"suspectAfterMised": 10}}', /config\.suspectAfterMised is not an option; known: .*suspectAfterMissed/);
  refused('{"config": {"suspectAfterMissed": "10"}}', /config\.suspectAfterMissed must be a number, got "10"/);
  refused('{"rsm": {"maxInFlight": 0}}', /rsm\.maxInFlight must be a positive number, got 0/);
  refused('{"config": {"suspectAfterMissed": 2.5}}', /config\.suspectAfterMissed must be a positive integer, got 2\.5/);
  refused('{"paxos": {"phaseTimeoutMs": 500, "phaseTimeoutMaxMs": 100}}', /phaseTimeoutMaxMs must not be below/);
  refused('{"transport": {"maxStreams": 1.5}}', /transport\.maxStreams must be a positive integer/);
  refused('{"rsm": {"maxClients": 1000.5}}', /rsm\.maxClients must be a positive integer/);
  refused('{"rsm": {"clientRetentionMs": 60000, "clientEvictableAfterMs": 300000}}', /clientRetentionMs must not be below rsm\.clientEvictableAfterMs/);
  refused('{"transport": {"maxMessageBytes": 262144}}', /rsm\.stateChunkBytes \(262144\) plus 4096 bytes of envelope must fit in transport\.maxMessageBytes \(262144\)/);
  assert.deepEqual(parseNodeOptions('{"config": {"suspectAfterMissed": 10}, "rsm": {}}', 'o.json'),
    { config: { suspectAfterMissed: 10 }, rsm: {} }, 'a good file gives exactly what it sets');
  refused('{"feeds": {"stallTimeoutMs": 0}}', /feeds\.stallTimeoutMs must be a positive number, got 0/);
  assert.deepEqual(parseNodeOptions('{"feeds": {"stallTimeoutMs": 500}}', 'o.json'), { feeds: { stallTimeoutMs: 500 } }, 'the feeds district');
});

describe('synod node --options on a real process', () => {
  let root: string;
  let node: NodeProcess;
  let client: SynodClient;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'synod-options-'));
    const [port] = await freePortPairs(1);
    node = new NodeProcess({ port: port!, first: `127.0.0.1:${port}`, dataDir: join(root, 'n1'), logLevel: 'warn' });
    const file = join(root, 'options.json');
    writeFileSync(file, JSON.stringify({ transport: { maxMessageBytes: 8192 }, rsm: { stateChunkBytes: 4096, maxInvokeBatchBytes: 1024, maxInvokeBatchRequests: 16 } }));
    await node.start(['--app', 'test', '--options', file]);
    client = await connect({ members: [node.address] });
  });

  after(async () => {
    await client?.close();
    node?.closeClient();
    await node?.kill('SIGKILL');
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
  });

  test('a bad options file is a usage error (exit 2) naming the file and the option, before anything starts', async () => {
    const file = join(root, 'bad.json');
    writeFileSync(file, '{"transport": {"maxMessageByte": 4096}}');
    const run = await runSynod('node', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', join(root, 'never'), '--options', file);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, new RegExp(`--options ${file}: transport\\.maxMessageByte is not an option`));
    const missing = await runSynod('node', '--me', '127.0.0.1:1', '--first', '127.0.0.1:1', '--data-dir', join(root, 'never'), '--options', join(root, 'nowhere.json'));
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /nowhere\.json cannot be read: ENOENT/);
  });

  test('transport.maxMessageBytes from the file takes effect: a small call is served, a 10 KB one refused at once as invalid', async () => {
    assert.equal(await client.invoke('append', { item: 'small' }), 0);
    await assert.rejects(client.invoke('append', { item: 'x'.repeat(10_000) }, { deadlineMs: 20_000 }), (err: unknown) => {
      // Refused as a bad request at once: retried as load, it would end DeadlineExceededError.
      assert.ok(err instanceof InvalidArgumentError, String(err));
      assert.match(err.message, /the request is larger than the node accepts \(its transport\.maxMessageBytes\).*\(\d+ vs 8192\)/);
      return true;
    });
    assert.equal(await client.invoke('length', null), 1, 'the refused call was never executed');
  });

  test('an answer larger than the client accepts is never reported as a call that did not run: the outcome is unknown', async () => {
    const small = await connect({ members: [node.address], transport: { maxMessageBytes: 2048 } });
    try {
      for (let i = 0; i < 6; i++) await small.invoke('append', { item: `${i}`.repeat(500) });
      // `list` answers about 3 KB: the node sends it (its limit is 8 KiB), this client refuses it.
      await assert.rejects(small.invoke('list', null, { deadlineMs: 1500 }), (err: unknown) => {
        assert.ok(!(err instanceof InvalidArgumentError), `not "refused, not executed": ${String(err)}`);
        assert.ok(err instanceof DeadlineExceededError, String(err));
        assert.match(err.message, /the answer is larger than this client accepts \(transport\.maxMessageBytes\); the call may have run/);
        return true;
      });
    } finally {
      await small.close();
    }
  });
});
