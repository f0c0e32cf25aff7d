// Proves the app identity's rules and every place it is checked outside the join itself: the
// name and version rules and compatibility (same name, same major), defineApp's refusals, the
// codec refusing bad or oversized identity fields from the wire as invalid input (never a crash),
// the data directory remembering its app (old files upgraded, incompatible apps refused at
// start), and the status service carrying the app as name and version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MethodDefinition } from '@grpc/proto-loader';
import { appNameProblem, appVersionProblem, compatibleApps, formatApp } from '../../src/config/app-identity.js';
import { configCodec } from '../../src/config/codec.js';
import { InvalidMessageError } from '../../src/env/errors.js';
import { defineApp, jsonState } from '../../src/rsm/app.js';
import { serviceDefinition } from '../../src/runtime/proto.js';
import { DataDirAppMismatchError, checkIdentity } from '../../src/node/identity.js';
import { type NodeStatus, isServing, nodeServiceCodec } from '../../src/node/status.js';

type Fields = Record<string, unknown>;

test('app names are 1-64 of a-z 0-9 . _ - starting with a letter; versions are MAJOR.MINOR.PATCH', () => {
  for (const good of ['a', 'kv', 'lock', 'my-app.v2_x', `a${'b'.repeat(63)}`]) assert.equal(appNameProblem(good), null, good);
  for (const bad of ['', 'Kv', '1kv', '-kv', 'k v', 'kv/x', 'ké', `a${'b'.repeat(64)}`, 7, undefined]) {
    assert.notEqual(appNameProblem(bad), null, String(bad));
  }
  for (const good of ['0.0.0', '1.0.0', '10.20.30', '999999999.0.1']) assert.equal(appVersionProblem(good), null, good);
  for (const bad of ['', '1', '1.0', '1.0.0.0', '01.0.0', '1.02.0', 'v1.0.0', '1.0.0-beta', '1000000000.0.0', ' 1.0.0', 1]) {
    assert.notEqual(appVersionProblem(bad), null, String(bad));
  }
});

test('apps are compatible with the same name and version only; no app is compatible with no app only', () => {
  const kv = (version: string) => ({ name: 'kv', version });
  assert.ok(compatibleApps(kv('1.9.3'), kv('1.9.3')));
  assert.ok(!compatibleApps(kv('1.0.0'), kv('1.0.1')), 'a patch may change what a request does');
  assert.ok(!compatibleApps(kv('1.0.0'), kv('1.1.0')));
  assert.ok(!compatibleApps(kv('1.0.0'), kv('2.0.0')));
  assert.ok(!compatibleApps(kv('1.0.0'), { name: 'lock', version: '1.0.0' }));
  assert.ok(compatibleApps(null, null));
  assert.ok(!compatibleApps(null, kv('1.0.0')));
  assert.ok(!compatibleApps(kv('1.0.0'), null));
  assert.equal(formatApp(kv('1.2.3')), 'kv@1.2.3');
  assert.equal(formatApp(null), 'no app');
});

test('defineApp refuses a bad or missing name or version with a RangeError naming it', () => {
  const app = {
    name: 'kv',
    version: '1.0.0',
    initialState: () => ({}),
    handlers: { get: () => null },
    marshalState: jsonState.marshal,
    unmarshalState: jsonState.unmarshal,
  };
  assert.equal(defineApp(app), app);
  assert.throws(() => defineApp({ ...app, name: 'KV' }), (e: unknown) => e instanceof RangeError && /^app name: "KV" is not 1 to 64/.test(e.message));
  assert.throws(() => defineApp({ ...app, version: '1.0' }), (e: unknown) => e instanceof RangeError && /^app version: "1\.0" is not MAJOR\.MINOR\.PATCH/.test(e.message));
  const { name: _name, ...nameless } = app;
  assert.throws(() => defineApp(nameless as typeof app), /^RangeError: app name: missing$/);
  assert.throws(() => defineApp({ ...app, handlers: {} }), /an app needs at least one procedure/);
  assert.throws(() => defineApp({ ...app, marshalState: 'no' as unknown as typeof app.marshalState }), /^TypeError: app marshalState: must be a function$/);
});

/** Raw join fields (as a buggy or hostile peer could send them) through protobuf bytes, then the codec. */
function decodeJoin(join: Fields): unknown {
  const method = serviceDefinition(configCodec.service)['Deliver'] as MethodDefinition<Fields, Fields>;
  return configCodec.decode(method.requestDeserialize(method.requestSerialize({ join, from: 'a:1', to: 'b:2', cluster: 'c' })));
}

test('the codec refuses bad or oversized app identity fields as invalid input, naming the field', () => {
  const base = { incarnation: 'i', vid: 1 };
  assert.deepEqual(decodeJoin(base), { kind: 'join', incarnation: 'i', vid: 1, app: null });
  assert.deepEqual(decodeJoin({ ...base, app: { name: 'kv', version: '2.1.0' } }), { kind: 'join', incarnation: 'i', vid: 1, app: { name: 'kv', version: '2.1.0' } });
  const cases: Array<[Fields, RegExp]> = [
    [{ name: 'kv' }, /join\.app\.version: must be a string/],
    [{ version: '1.0.0' }, /join\.app\.name: must be a string/],
    [{ name: 'x'.repeat(1_000_000), version: '1.0.0' }, /join\.app\.name: "x{80}…" is not 1 to 64/],
    [{ name: 'kv', version: `1.0.${'9'.repeat(100_000)}` }, /join\.app\.version: .* is not MAJOR\.MINOR\.PATCH/],
    [{ name: 'KV', version: '1.0.0' }, /join\.app\.name/],
  ];
  for (const [app, message] of cases) {
    assert.throws(() => decodeJoin({ ...base, app }), (e: unknown) => e instanceof InvalidMessageError && message.test(e.message), JSON.stringify(app).slice(0, 60));
  }
  const refused = serviceDefinition(configCodec.service)['Deliver'] as MethodDefinition<Fields, Fields>;
  const bad = refused.requestSerialize({ join_refused: { vid: 2, member_app: { name: 'kv', version: 'x' } }, from: 'a:1', to: 'b:2', cluster: 'c' });
  assert.throws(() => configCodec.decode(refused.requestDeserialize(bad)), /join_refused\.member_app\.version/);
});

test('a data directory remembers its app: a restart with the same app is accepted, another app or version is refused naming both', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-identity-'));
  try {
    const who = { me: 'h:1', first: 'h:1', cluster: 'c', newClusterId: () => 'id-1' };
    const created = checkIdentity(dir, { ...who, app: { name: 'kv', version: '1.0.0' } });
    assert.equal(created.firstLife, true, 'a new data directory');
    created.record();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')),
      { me: 'h:1', first: 'h:1', cluster: 'c', clusterId: 'id-1', app: { name: 'kv', version: '1.0.0' }, disk: null });
    assert.equal(checkIdentity(dir, { ...who, app: { name: 'kv', version: '1.0.0' } }).firstLife, false, 'the same app starts again');
    for (const [app, text] of [
      [{ name: 'lock', version: '1.0.0' }, 'lock@1.0.0 (another app)'],
      [{ name: 'kv', version: '2.0.0' }, 'kv@2.0.0 (another version)'],
      [{ name: 'kv', version: '1.0.1' }, 'kv@1.0.1 (another version)'],
      [null, 'no app (another app)'],
    ] as const) {
      assert.throws(() => checkIdentity(dir, { ...who, app }), (e: unknown) => e instanceof DataDirAppMismatchError &&
        e.message.includes(`was created by a node running kv@1.0.0, but this node runs ${text}`), String(text));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an identity file written before identities named the app is accepted and upgraded with the app given', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synod-identity-'));
  try {
    const who = { me: 'h:1', first: 'h:1', cluster: 'c' };
    const newClusterId = (): string => assert.fail('a data directory with an identity makes no cluster id');
    writeFileSync(join(dir, 'identity.json'), `${JSON.stringify(who)}\n`);
    assert.equal(checkIdentity(dir, { ...who, newClusterId, app: { name: 'lock', version: '1.0.0' } }).firstLife, false, 'not a first life');
    // Also written before clusters had ids: every node of the cluster derives the same one from its name.
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')), { ...who, clusterId: 'name:c', app: { name: 'lock', version: '1.0.0' }, disk: null });
    assert.throws(() => checkIdentity(dir, { ...who, newClusterId, app: { name: 'test', version: '1.0.0' } }), DataDirAppMismatchError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the status service carries the app as name and version; serving is judged from the status', () => {
  const method = serviceDefinition(nodeServiceCodec.service)['Call'] as MethodDefinition<Fields, Fields>;
  const status: NodeStatus = {
    node: 'h:1', member: 'h:1', incarnation: 'i', clusterId: 'c-1', vid: 3, members: ['h:1', 'h:2'], memberIds: ['h:1', 'h:2@0a1b2c'], primary: 'h:1', views: [{ vid: 3, members: ['h:1'] }], viewsDecided: 3,
    configStatus: 'member', replicaStatus: 'normal', lastExecuted: { vid: 3, seqno: 1 }, stateComplete: true, refusing: false,
    inFlight: 0, app: { name: 'lock', version: '1.0.0' }, clientPath: { answers: 0, seconds: 0 },
  };
  const roundTrip = (s: NodeStatus): NodeStatus =>
    nodeServiceCodec.decodeAnswer(method.responseDeserialize(method.responseSerialize(nodeServiceCodec.encodeAnswer(s))));
  assert.deepEqual(roundTrip(status), status);
  assert.deepEqual(roundTrip({ ...status, app: null, primary: null, replicaStatus: null }).app, null);
  assert.equal(roundTrip({ ...status, clusterId: null }).clusterId, null, 'a joiner that has not learned the id');
  assert.equal(isServing(status), true);
  assert.equal(isServing({ ...status, replicaStatus: 'syncing' }), false);
  assert.equal(isServing({ ...status, refusing: true }), false);
  assert.equal(isServing({ ...status, configStatus: 'stale' }), false);
  assert.equal(isServing({ ...status, app: null, replicaStatus: null }), true, 'without an app, a member serves');
  assert.equal(isServing({ ...status, app: null, replicaStatus: null, configStatus: 'outside' }), false);
  assert.equal(isServing({ ...status, app: null, vid: 0 }), false);
});
