// The fuzzer's generators do what they claim: every service of proto/ is aimed at, peer cases are
// ones the node's own codec refuses, the limits each app request is judged by are right, and the
// wire-level mutations make bytes protobuf cannot read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidMessageError } from '../../src/env/errors.js';
import { limits } from '../../src/options.js';
import { jsonTextDepth } from '../../src/rsm/json-text.js';
import { appRequest } from '../../tools/fuzz/app-args.js';
import { fuzzApps } from '../../tools/fuzz/apps.js';
import { type CaseEnv, families, safeFamilies } from '../../tools/fuzz/case-model.js';
import { drawCases } from '../../tools/fuzz/cases.js';
import { wireWords } from '../../tools/fuzz/messages.js';
import { WireSchema } from '../../tools/fuzz/schema.js';
import { checkCoverage, serviceTarget, serviceTargets } from '../../tools/fuzz/services.js';
import { simWireEnv } from '../../tools/fuzz/sim-target.js';
import { byteMutations, mutateBytes } from '../../tools/fuzz/wire-bytes.js';
import { Prng } from '../../tools/sim/prng.js';

const schema = WireSchema.load();
const nodes = ['127.0.0.1:7001', '127.0.0.1:7003', '127.0.0.1:7005'];
const realEnv: CaseEnv = {
  schema, app: fuzzApps.lock.target, real: true, captured: [], served: new Set(serviceTargets.map((t) => t.service)),
  wire: { nodes, strangers: ['127.0.0.1:1'], cluster: 'synod@127.0.0.1:7001', otherClusters: ['other'], anyTypes: false, words: wireWords, clusterId: null },
};
const simEnv: CaseEnv = {
  schema, app: fuzzApps.lock.target, real: false, captured: [], served: new Set(serviceTargets.filter((t) => t.simulated).map((t) => t.service)),
  wire: simWireEnv(),
};

test('every service of proto/ has a fuzz target, and the schema knows each envelope\'s oneof members', () => {
  checkCoverage(schema);
  const paxos = schema.message('synod.paxos.Envelope');
  assert.deepEqual(paxos.fields.filter((f) => f.oneof === 'body').map((f) => f.name),
    ['prepare', 'promise', 'accept', 'accepted', 'reject', 'decided', 'known', 'fetch', 'decisions']);
  assert.ok(paxos.fields.filter((f) => ['from', 'to', 'cluster'].includes(f.name)).every((f) => f.oneof === null));
  assert.equal(schema.method('synod.rsm.Callbacks').serverStream, true);
  assert.equal(schema.service('synod.control.Control').methods.length, 6);
});

test('cases of every family are drawn for real processes, and protobuf encodes (nearly) all of them', () => {
  const cases = drawCases(realEnv, families, 600, new Prng(1));
  const seen = new Set(cases.map((c) => c.family));
  assert.deepEqual([...seen].sort(), families.filter((f) => f !== 'replay').sort(), 'replay needs captured messages; the rest are drawn');
  let encoded = 0;
  for (const c of cases) {
    if (c.payload.form === 'bytes') continue;
    try {
      schema.method(c.service, c.method).serialize(c.payload.fields);
      encoded++;
    } catch {
      // counted below
    }
  }
  const fieldCases = cases.filter((c) => c.payload.form === 'fields').length;
  assert.ok(encoded >= fieldCases * 0.95, `${encoded} of ${fieldCases} encode`);
  assert.ok(cases.some((c) => c.payload.form === 'bytes'), 'some cases are broken bytes');
});

test('peer cases are messages the node\'s own codec refuses (in the simulator, where they reach it as they are)', () => {
  const cases = drawCases(simEnv, ['peer'], 300, new Prng(2));
  assert.equal(cases.length, 300);
  for (const c of cases) {
    assert.equal(c.expect.kind, 'refuse');
    assert.equal(c.payload.form, 'fields');
    const fields = c.payload.form === 'fields' ? c.payload.fields : {};
    assert.throws(() => serviceTarget(c.service).decode!(fields), (e: unknown) => e instanceof InvalidMessageError, c.label);
  }
  assert.ok(new Set(cases.map((c) => c.service)).size === 3, 'every channel');
});

test('an app request is judged by the documented limits: free ones are JSON within them, refused ones break one', () => {
  const rng = new Prng(3);
  let refused = 0;
  for (let i = 0; i < 2000; i++) {
    const r = appRequest(fuzzApps.lock.target, rng);
    const bytes = Buffer.byteLength(r.argsText, 'utf8');
    const depth = jsonTextDepth(r.argsText);
    const json = ((): boolean => {
      try {
        JSON.parse(r.argsText);
        return true;
      } catch {
        return false;
      }
    })();
    const within = bytes <= limits.maxRequestBytes && depth <= limits.maxJsonDepth && json && r.proc.length > 0 && r.proc.length <= limits.maxProcNameLength;
    if (r.rule.kind === 'refuse') {
      refused++;
      assert.ok(!within, `${r.shape} ${r.proc}: judged refused but within every limit`);
    } else {
      assert.ok(within, `${r.shape} ${r.proc}: judged ${r.rule.kind} but breaks a limit (${bytes} bytes, depth ${depth}, json ${json})`);
      assert.equal(r.rule.kind === 'unknown-procedure', !fuzzApps.lock.target.procs.includes(r.proc));
    }
  }
  assert.ok(refused > 200 && refused < 1200, `refused ${refused} of 2000`);
});

test('wire-level mutations make bytes the nodes\' protobuf decoder cannot read (those meant to)', () => {
  const method = schema.method('synod.paxos.Paxos');
  const valid = method.serialize({ from: 'a', to: 'b', cluster: 'c', prepare: { instance: 2, n: { round: 1, node: 'a' } } });
  const rng = new Prng(4);
  const unreadable = ['bad-wire-type', 'length-past-end', 'endless-varint'] as const;
  for (const mutation of byteMutations) {
    const bytes = mutateBytes(valid, schema.message(method.request), mutation, rng);
    assert.notDeepEqual(bytes, valid, mutation);
    if ((unreadable as readonly string[]).includes(mutation)) assert.throws(() => method.deserializeRequest(bytes), mutation);
  }
  assert.deepEqual(safeFamilies.filter((f) => f === 'forge'), [], 'forged peer messages are not a safe family');
});
