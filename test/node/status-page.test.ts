// Proves the live status page in a real headless Chromium (Debian's, driven by playwright-core)
// against three real node processes: the page shows three members and who is primary; after the
// primary is killed it shows the new primary (and the old one unreachable or gone) without a
// reload; a screenshot of each state is written and its path printed. Skipped, with the reason
// printed, when there is no Chromium (SYNOD_CHROMIUM names another binary).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { OpsCluster } from '../../tools/harness/ops-cluster.js';
import { eventually, sleep } from '../../tools/harness/node-process.js';
import { connect } from '../../src/client/connect.js';

const chromiumPath = process.env['SYNOD_CHROMIUM'] ?? '/usr/bin/chromium';
const noChromium = existsSync(chromiumPath) ? false : `no Chromium at ${chromiumPath} (apt-get install chromium, or set SYNOD_CHROMIUM)`;
if (noChromium !== false) process.stdout.write(`status page test skipped: ${noChromium}\n`);

/** How long the page may take to show a state the cluster is in (it polls every second). */
const pageShowsWithinMs = 15_000;
/** Pause between the background load's calls: a steady trickle, light on a shared machine. */
const loadPauseMs = 20;
/** Points the throughput sparkline must draw before the first screenshot: a line, not a dot. */
const sparkPointsShown = 4;

/** The members the page lists now: node, data-role, reachable. */
async function rows(page: Page): Promise<Row[]> {
  return page.$$eval('#members tr[data-node]', (trs) => trs.map((tr) => ({
    node: tr.getAttribute('data-node') ?? '',
    role: tr.getAttribute('data-role') ?? '',
    reachable: tr.getAttribute('data-reachable') ?? '',
  })));
}

type Row = { node: string; role: string; reachable: string };

/** Waits until the page's member rows and shown primary satisfy `ok`; returns the rows. */
async function pageShows(page: Page, ok: (rows: Row[], primary: string | null) => boolean, what: string): Promise<Row[]> {
  return eventually(async () => {
    const r = await rows(page);
    return ok(r, await page.getAttribute('#primary', 'data-primary')) ? r : undefined;
  }, pageShowsWithinMs, `the page shows ${what}`, 100);
}

describe('status page in headless Chromium', { timeout: 120_000, skip: noChromium }, () => {
  let c: OpsCluster;
  let browser: Browser;
  // SYNOD_STATUS_PAGE_SHOTS=DIR keeps the screenshots there (how docs/status-page.png is made).
  const shots = process.env['SYNOD_STATUS_PAGE_SHOTS'] ?? mkdtempSync(join(tmpdir(), 'synod-status-page-'));
  before(async () => {
    c = await OpsCluster.start();
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
    await c?.close();
  });

  test('the page shows three members and the primary, then the new primary after the primary is killed', async () => {
    const [s] = await c.settled(3, 10_000);
    assert.equal(s!.members.length, 3);
    const primary = s!.primary!;
    // The page is served by a node that survives the kill (the primary stays while nothing fails).
    const viewer = s!.members.find((m) => m !== primary)!;
    // A light steady load (one call at a time, a pause between), so the sparklines have something to draw.
    const client = await connect({ members: c.nodes.map((n) => n.address) });
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) {
        await client.invoke('append', { item: `load ${i}` }).catch(() => {});
        await sleep(loadPauseMs);
      }
    })();
    try {
      await watchFailover(c, browser, s!.members, viewer, shots);
    } finally {
      loading = false;
      await load;
      await client.close();
    }
  });
});

/** The page through the failover, from `viewer`'s ops endpoint. */
async function watchFailover(c: OpsCluster, browser: Browser, members: readonly string[], viewer: string, shots: string): Promise<void> {
  const primary = (await c.status.status(viewer)).primary!;
  const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  await page.goto(`http://${c.opsAddress.get(viewer)}/status`);
  const before = await pageShows(page, (r, shown) => r.length === 3 && shown === primary, 'three members and the primary');
  // Under load the throughput sparkline draws points (how many per second is never asserted).
  await eventually(async () => ((await page.getAttribute('#tput-spark polyline', 'points')) ?? '').split(' ').length >= sparkPointsShown || undefined,
    pageShowsWithinMs, 'a throughput sparkline');
  assert.deepEqual(before.map((r) => r.node).sort(), [...members].sort());
  assert.deepEqual(before.filter((r) => r.role === 'primary').map((r) => r.node), [primary]);
  assert.equal(before.filter((r) => r.role === 'backup').length, 2);
  assert.match(await page.textContent('#ready') ?? '', /^ready$/);
  const first = join(shots, 'status-three-members.png');
  await page.screenshot({ path: first, fullPage: true });
  process.stdout.write(`status page screenshot: ${first}\n`);

  await c.nodes.find((n) => n.address === primary)!.kill('SIGKILL');
  const [after] = await c.settled(2, 30_000);
  assert.ok(after !== undefined);
  const newPrimary = after!.primary!;
  assert.notEqual(newPrimary, primary);
  const later = await pageShows(page, (r, shown) => {
    const old = r.find((x) => x.node === primary);
    return shown === newPrimary && r.some((x) => x.node === newPrimary && x.role === 'primary') && (old === undefined || old.reachable === 'false');
  }, 'the new primary, the old one unreachable or gone');
  assert.deepEqual(later.filter((r) => r.role === 'primary').map((r) => r.node), [newPrimary]);
  // The timeline shows the view the kill made, as the current one.
  assert.match(await page.textContent('#timeline') ?? '', new RegExp(`current: view ${after!.vid} `));
  const second = join(shots, 'status-new-primary.png');
  await page.screenshot({ path: second, fullPage: true });
  process.stdout.write(`status page screenshot: ${second}\n`);
  await page.close();
}
