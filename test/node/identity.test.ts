// Proves what a data directory binds a node to (identity.json): the first node's first life
// makes the cluster's id, a joiner has none until it learns one (kept durably then), and a later
// start keeps the data directory's first node, cluster name and id: another --first is only a
// contact, no --cluster means the stored name, another --cluster or --me is refused naming both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataDirMismatchError, IdentityFileError, checkIdentity, memberOfIdentity } from '../../src/node/identity.js';

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'synod-identity-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const stored = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')) as Record<string, unknown>;
let made = 0;
const newClusterId = (): string => `id-${++made}`;

test('the first node\'s first life makes the cluster id and records it with the default name', () => {
  withDir((dir) => {
    const check = checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId });
    assert.equal(check.firstLife, true);
    assert.deepEqual(check.contacts, []);
    const id = check.identity.clusterId;
    assert.match(id ?? '', /^id-\d+$/);
    check.record();
    assert.deepEqual(stored(dir), { me: 'h:1', first: 'h:1', cluster: 'synod@h:1', clusterId: id, app: null, disk: null });
    const again = checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId });
    assert.equal(again.firstLife, false);
    assert.equal(again.identity.clusterId, id, 'kept, not made again');
  });
});

test('a joiner has no id until it learns one, which is then kept durably; another id is refused', () => {
  withDir((dir) => {
    const check = checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId });
    assert.equal(check.identity.clusterId, null);
    check.record();
    assert.equal(stored(dir)['clusterId'], null);
    check.adoptClusterId('learned');
    assert.equal(stored(dir)['clusterId'], 'learned');
    assert.equal(check.identity.clusterId, 'learned');
    check.adoptClusterId('learned'); // idempotent
    assert.throws(() => check.adoptClusterId('another'), /names cluster id learned; refusing to replace it with another/);
    assert.equal(checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId }).identity.clusterId, 'learned');
  });
});

test('a restart with another --first keeps the stored first node, name and id; the --first given is a contact', () => {
  withDir((dir) => {
    checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId }).record();
    checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId }).adoptClusterId('c-1');
    const restart = checkIdentity(dir, { me: 'h:2', first: 'h:3', app: null, newClusterId });
    assert.equal(restart.firstLife, false);
    assert.deepEqual({ ...restart.identity, disk: 'x' }, { me: 'h:2', first: 'h:1', cluster: 'synod@h:1', clusterId: 'c-1', app: null, disk: 'x' });
    assert.deepEqual(restart.contacts, ['h:3']);
    assert.deepEqual(checkIdentity(dir, { me: 'h:2', first: 'h:1', cluster: 'synod@h:1', app: null, newClusterId }).contacts, []);
  });
});

test('another --cluster or --me than the data directory\'s is refused naming both', () => {
  withDir((dir) => {
    checkIdentity(dir, { me: 'h:1', first: 'h:1', cluster: 'prod', app: null, newClusterId }).record();
    assert.throws(() => checkIdentity(dir, { me: 'h:1', first: 'h:1', cluster: 'test', app: null, newClusterId }), (e: unknown) =>
      e instanceof DataDirMismatchError && e.field === 'cluster' && /created with --cluster prod, but this node was started with --cluster test/.test(e.message));
    assert.throws(() => checkIdentity(dir, { me: 'h:9', first: 'h:1', app: null, newClusterId }), (e: unknown) =>
      e instanceof DataDirMismatchError && e.field === 'me');
    assert.equal(checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId }).identity.cluster, 'prod', 'no --cluster: the stored one');
  });
});

test('an identity file whose cluster id is not one is refused', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'identity.json'), JSON.stringify({ me: 'h:1', first: 'h:1', cluster: 'c', clusterId: 7, app: null }));
    assert.throws(() => checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId }), IdentityFileError);
    writeFileSync(join(dir, 'identity.json'), JSON.stringify({ me: 'h:1', first: 'h:1', cluster: 'c', clusterId: 'x'.repeat(65), app: null }));
    assert.throws(() => checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId }), /clusterId is not null or 1 to 64 characters/);
  });
});

test('a joiner\'s data directory gets a disk id of its own, kept across restarts; a new directory gets another; the first node has none', () => {
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) {
    withDir((dir) => {
      const check = checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId });
      check.record();
      const disk = check.identity.disk;
      assert.match(disk ?? '', /^[0-9a-f]{12}$/);
      assert.equal(stored(dir)['disk'], disk, 'recorded with the identity');
      assert.equal(checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId }).identity.disk, disk, 'kept by a restart');
      assert.equal(memberOfIdentity(check.identity), `h:2@${disk}`);
      ids.push(disk!);
    });
  }
  assert.notEqual(ids[0], ids[1], 'a wiped (new) data directory is another member');
  withDir((dir) => {
    const first = checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId });
    assert.equal(first.identity.disk, null);
    assert.equal(memberOfIdentity(first.identity), 'h:1', 'view 1 lists the first node by address');
  });
});

test('an identity from before disk ids keeps its address as member id (its views list it so); a bad disk id is refused', () => {
  withDir((dir) => {
    writeFileSync(join(dir, 'identity.json'), `${JSON.stringify({ me: 'h:2', first: 'h:1', cluster: 'c', clusterId: 'c-1', app: null })}\n`);
    const check = checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId });
    assert.equal(memberOfIdentity(check.identity), 'h:2');
    assert.equal(stored(dir)['disk'], null, 'upgraded in place');
    for (const disk of ['', 'UPPER', 'a'.repeat(33), 7]) {
      writeFileSync(join(dir, 'identity.json'), `${JSON.stringify({ me: 'h:2', first: 'h:1', cluster: 'c', clusterId: 'c-1', app: null, disk })}\n`);
      assert.throws(() => checkIdentity(dir, { me: 'h:2', first: 'h:1', app: null, newClusterId }),
        (e: unknown) => e instanceof IdentityFileError && /its disk is not null or 1 to 32/.test(e.message), JSON.stringify(disk));
    }
  });
});

test('the first node\'s new data directory given --join joins the existing cluster as a new member instead of creating one', () => {
  withDir((dir) => {
    const check = checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId, join: ['h:2'] });
    assert.equal(check.identity.clusterId, null, 'no new cluster: it learns the id from the member it asks');
    assert.match(check.identity.disk ?? '', /^[0-9a-f]{12}$/);
    assert.notEqual(memberOfIdentity(check.identity), 'h:1', 'another member than the lost first disk');
  });
  withDir((dir) => {
    const check = checkIdentity(dir, { me: 'h:1', first: 'h:1', app: null, newClusterId, join: ['h:1'] });
    assert.notEqual(check.identity.clusterId, null, 'naming only itself it still creates the cluster');
  });
});
