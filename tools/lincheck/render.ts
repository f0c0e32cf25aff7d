import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { invariant } from '../../src/env/errors.js';
import { describeOp } from './explain.js';
import type { CheckResult, History, Model, Operation } from './types.js';

/**
 * A picture of a linearizability violation: one self-contained HTML page (inline SVG and a little
 * CSS; no scripts, no external assets) to open in a browser.
 *
 * It shows the part of the history (of `model.partition`) that has no linearization, one lane
 * per client, each operation a bar from its call to its return; an operation with unknown outcome
 * fades out towards the right edge (it may take effect any time after its call). The operations
 * of the longest linearizable prefix the checker found are green, numbered in the order it
 * linearized them; the operation that could not be placed after it is red; the rest grey. Every
 * bar's `<title>` (its tooltip) describes the operation. A part of more than `maxOpsDrawn`
 * operations is drawn as a window of that many around the failed operation, by call time.
 */

type Violation = Extract<CheckResult, { verdict: 'violation' }>;

/** At most this many operations are drawn: a window around the failed one (by call time). */
export const maxOpsDrawn = 400;

const marginPx = 16;
const laneLabelWidthPx = 180;
const plotWidthPx = 1100;
const axisHeightPx = 34;
/** Height of one row of bars; a lane has one row, or more if an unknown outcome overlaps later calls. */
const rowHeightPx = 26;
const barHeightPx = 18;
/** Rough width of one character of bar text, to tell whether a label fits inside its bar. */
const charWidthPx = 6.2;
/** Space between a bar's left edge and its text. */
const barTextInsetPx = 3;
const tickTargetCount = 10;
const maxLaneLabelChars = 28;
/** The last operations of the prefix listed in the text under the picture. */
const prefixTailListed = 12;

const colors = { prefix: '#3a9a4a', failed: '#d03030', other: '#9a9a9a' } as const;
type OpClass = keyof typeof colors;

/** Escapes text for XML and HTML: element content and quoted attribute values alike. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One operation as drawn. */
interface Bar {
  readonly op: Operation<unknown, unknown>;
  readonly text: string;
  readonly cls: OpClass;
  /** Its place (1-based) in the longest linearizable prefix, if it is in it. */
  readonly order: number | undefined;
  readonly row: number;
}

interface Lane {
  readonly client: string;
  readonly bars: Bar[];
  rows: number;
}

/** The operations drawn and the time span they cover. */
interface View<I, O> {
  readonly ops: ReadonlyArray<Operation<I, O>>;
  readonly partSize: number;
  /** Set when the part was cut down to a window: the first and last drawn, by call order (1-based). */
  readonly window: { readonly from: number; readonly to: number } | null;
  readonly t0: number;
  readonly t1: number;
}

/** The HTML page picturing `result`, a violation `checkLinearizable(history, model)` found. */
export function renderViolationHtml<S, I, O>(
  history: History<I, O>,
  model: Model<S, I, O>,
  result: Extract<CheckResult, { verdict: 'violation' }>,
  opts?: { title?: string },
): string {
  const parts = model.partition ? model.partition(history) : [history];
  const part = parts[result.part];
  invariant(part !== undefined, `lincheck render: the history has no part ${result.part} (it has ${parts.length})`);
  const view = viewOf(part, result.failedOp);
  const lanes = lanesOf(view.ops, model, result);
  const title = opts?.title ?? `Linearizability violation: ${model.name}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>${escapeXml(title)}</title>`,
    `<style>${css}</style>`,
    '</head><body>',
    header(title, model, result, part.length, view),
    svg(lanes, view),
    legend(),
    prefixList(part, model, result),
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * Writes the picture of `result` to `<dir>/<name>.html` (name: `violation` unless given), making
 * `dir` if need be; returns the file's absolute path.
 */
export function writeViolationPicture<S, I, O>(
  dir: string,
  history: History<I, O>,
  model: Model<S, I, O>,
  result: Extract<CheckResult, { verdict: 'violation' }>,
  opts?: { name?: string; title?: string },
): string {
  const name = opts?.name ?? 'violation';
  invariant(name.length > 0 && !/[/\\]/.test(name), `lincheck render: bad picture name ${JSON.stringify(name)}`);
  mkdirSync(dir, { recursive: true });
  const path = resolve(join(dir, `${name}.html`));
  writeFileSync(path, renderViolationHtml(history, model, result, opts?.title === undefined ? undefined : { title: opts.title }));
  return path;
}

// ---------------------------------------------------------------------------------------------
// What to draw.

function viewOf<I, O>(part: History<I, O>, failedOp: number): View<I, O> {
  const sorted = [...part].sort((a, b) => a.call - b.call || a.id - b.id);
  let ops = sorted;
  let window: View<I, O>['window'] = null;
  if (sorted.length > maxOpsDrawn) {
    const at = Math.max(0, sorted.findIndex((op) => op.id === failedOp));
    const from = Math.min(Math.max(0, at - Math.floor(maxOpsDrawn / 2)), sorted.length - maxOpsDrawn);
    ops = sorted.slice(from, from + maxOpsDrawn);
    window = { from: from + 1, to: from + maxOpsDrawn };
  }
  const t0 = ops.length === 0 ? 0 : Math.min(...ops.map((op) => op.call));
  const ends = ops.map((op) => (op.output === undefined || op.ret === undefined ? op.call : op.ret));
  const t1 = Math.max(t0, ...ends);
  return { ops, partSize: part.length, window, t0, t1: t1 > t0 ? t1 : t0 + 1 };
}

/** The lanes, one per client in order of first call; within a lane, rows so that no bars overlap. */
function lanesOf<S, I, O>(ops: ReadonlyArray<Operation<I, O>>, model: Model<S, I, O>, result: Violation): Lane[] {
  const order = new Map(result.longestPrefix.map((id, k) => [id, k + 1]));
  const lanes = new Map<string, { lane: Lane; rowEnds: number[] }>();
  for (const op of ops) {
    let l = lanes.get(op.client);
    if (l === undefined) {
      l = { lane: { client: op.client, bars: [], rows: 1 }, rowEnds: [] };
      lanes.set(op.client, l);
    }
    const end = op.output === undefined ? Number.POSITIVE_INFINITY : op.ret!;
    let row = l.rowEnds.findIndex((e) => e < op.call);
    if (row < 0) row = l.rowEnds.length;
    l.rowEnds[row] = end;
    l.lane.rows = Math.max(l.lane.rows, row + 1);
    const cls: OpClass = op.id === result.failedOp ? 'failed' : order.has(op.id) ? 'prefix' : 'other';
    l.lane.bars.push({ op: op as Operation<unknown, unknown>, text: describeOp(model, op), cls, order: order.get(op.id), row });
  }
  return [...lanes.values()].map((l) => l.lane);
}

// ---------------------------------------------------------------------------------------------
// The page.

const css = [
  'body{font-family:system-ui,sans-serif;margin:16px;color:#222}',
  'h1{font-size:20px;margin:0 0 8px}',
  'p{margin:4px 0;max-width:1300px}',
  '.explanation{background:#fff3f3;border-left:4px solid #d03030;padding:6px 10px}',
  'svg text{font-family:ui-monospace,monospace;font-size:11px}',
  '.lane-label{font-size:12px}',
  '.tick{font-size:10px;fill:#555}',
  '.legend span{display:inline-block;margin-right:18px}',
  '.swatch{display:inline-block;width:22px;height:12px;vertical-align:middle;margin-right:6px;border:1px solid #555}',
  'ol{font-family:ui-monospace,monospace;font-size:12px}',
].join('\n');

function header<S, I, O>(title: string, model: Model<S, I, O>, result: Violation, partSize: number, view: View<I, O>): string {
  const shown = view.window === null
    ? `All ${partSize} operations of that part are drawn.`
    : `The part has ${partSize} operations; drawn are the ${maxOpsDrawn} around the failed one by call time ` +
      `(${view.window.from} to ${view.window.to}), from ${fmt(view.t0)} to ${fmt(view.t1)} ms.`;
  return [
    `<h1>${escapeXml(title)}</h1>`,
    `<p>Model <b>${escapeXml(model.name)}</b>; verdict <b>${escapeXml(result.verdict)}</b>; ${result.operations} operations in ` +
      `${result.parts} part${result.parts === 1 ? '' : 's'}, checked in ${fmt(result.elapsedMs)} ms.</p>`,
    `<p>Shown: only part ${result.part + 1} of ${result.parts}, the one with no linearization. ${escapeXml(shown)} ` +
      `The longest linearizable prefix found has ${result.longestPrefix.length} operations.</p>`,
    `<p class="explanation">${escapeXml(result.explanation)}</p>`,
  ].join('\n');
}

function legend(): string {
  const item = (style: string, text: string): string => `<span><span class="swatch" style="${style}"></span>${escapeXml(text)}</span>`;
  return [
    '<p class="legend">',
    item(`background:${colors.prefix}`, 'in the longest linearizable prefix (number: its place in that order)'),
    item(`background:${colors.failed}`, 'could not be placed after that prefix'),
    item(`background:${colors.other}`, 'not in the prefix'),
    item(`background:linear-gradient(to right,${colors.other},transparent);border-style:dashed`, '? unknown outcome (may take effect any time after its call)'),
    '</p>',
  ].join('\n');
}

function prefixList<S, I, O>(part: History<I, O>, model: Model<S, I, O>, result: Violation): string {
  const byId = new Map(part.map((op) => [op.id, op]));
  const prefix = result.longestPrefix;
  const from = Math.max(0, prefix.length - prefixTailListed);
  const items = prefix.slice(from).map((id) => {
    const op = byId.get(id);
    return `<li>${escapeXml(op === undefined ? `op ${id}` : describeOp(model, op))}</li>`;
  });
  const failed = byId.get(result.failedOp);
  const failedText = failed === undefined ? `op ${result.failedOp}` : describeOp(model, failed);
  return [
    `<p>The end of the longest linearizable prefix${from > 0 ? ` (its last ${prefix.length - from} of ${prefix.length})` : ''}, in order:</p>`,
    `<ol start="${from + 1}">${items.join('')}</ol>`,
    `<p>Then could not be placed: <b>${escapeXml(failedText)}</b></p>`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// The SVG.

function svg<I, O>(lanes: readonly Lane[], view: View<I, O>): string {
  const rows = lanes.reduce((n, l) => n + l.rows, 0);
  const width = marginPx * 2 + laneLabelWidthPx + plotWidthPx;
  const height = marginPx * 2 + axisHeightPx + rows * rowHeightPx;
  const x = (t: number): number => marginPx + laneLabelWidthPx + ((t - view.t0) / (view.t1 - view.t0)) * plotWidthPx;
  const body: string[] = [gradients(), axis(view, x, height)];
  const overlay: string[] = []; // drawn last, over every bar
  let y = marginPx + axisHeightPx;
  for (const lane of lanes) {
    body.push(laneSvg(lane, y, x, overlay));
    y += lane.rows * rowHeightPx;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${[...body, ...overlay].join('\n')}\n</svg>`;
}

/** One fading fill per colour, for the bars of unknown outcome. */
function gradients(): string {
  const defs = (Object.keys(colors) as OpClass[]).map((cls) =>
    `<linearGradient id="fade-${cls}" x1="0" x2="1" y1="0" y2="0"><stop offset="0" stop-color="${colors[cls]}" stop-opacity="0.9"/>` +
    `<stop offset="1" stop-color="${colors[cls]}" stop-opacity="0.05"/></linearGradient>`);
  return `<defs>${defs.join('')}</defs>`;
}

function axis<I, O>(view: View<I, O>, x: (t: number) => number, height: number): string {
  const step = tickStep(view.t1 - view.t0);
  const out: string[] = [];
  const top = marginPx + axisHeightPx - 6;
  out.push(`<text class="tick" x="${marginPx}" y="${marginPx + 10}">time (ms)</text>`);
  for (let t = Math.ceil(view.t0 / step) * step; t <= view.t1 + step * 1e-9; t += step) {
    const px = x(t).toFixed(1);
    out.push(`<line x1="${px}" x2="${px}" y1="${top}" y2="${height - marginPx}" stroke="#e4e4e4"/>`);
    out.push(`<text class="tick" x="${px}" y="${top - 4}" text-anchor="middle">${escapeXml(fmt(t))}</text>`);
  }
  return out.join('\n');
}

/** A round step (1, 2 or 5 times a power of ten) giving about `tickTargetCount` ticks over `span`. */
function tickStep(span: number): number {
  const raw = span / tickTargetCount;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
}

function laneSvg(lane: Lane, y: number, x: (t: number) => number, overlay: string[]): string {
  const label = lane.client.length > maxLaneLabelChars ? `${lane.client.slice(0, maxLaneLabelChars - 1)}…` : lane.client;
  const mid = y + (lane.rows * rowHeightPx) / 2 + 4;
  const out = [
    `<line x1="${marginPx}" x2="${marginPx + laneLabelWidthPx + plotWidthPx}" y1="${y}" y2="${y}" stroke="#ccc"/>`,
    `<text class="lane-label" x="${marginPx + laneLabelWidthPx - 8}" y="${mid}" text-anchor="end"><title>${escapeXml(lane.client)}</title>${escapeXml(label)}</text>`,
  ];
  for (const bar of lane.bars) out.push(barSvg(bar, y + bar.row * rowHeightPx + (rowHeightPx - barHeightPx) / 2, x, overlay));
  return out.join('\n');
}

function barSvg(bar: Bar, y: number, x: (t: number) => number, overlay: string[]): string {
  const unknown = bar.op.output === undefined;
  const x0 = x(bar.op.call);
  const x1 = unknown ? marginPx + laneLabelWidthPx + plotWidthPx : x(bar.op.ret!);
  const w = Math.max(2, x1 - x0);
  const fill = unknown ? `url(#fade-${bar.cls})` : colors[bar.cls];
  const stroke = bar.cls === 'failed' ? ' stroke="#700" stroke-width="2"' : unknown ? ` stroke="${colors[bar.cls]}" stroke-dasharray="4 3"` : '';
  const tip = `${bar.order === undefined ? '' : `#${bar.order} in the prefix: `}${bar.cls === 'failed' ? 'FAILED: ' : ''}${bar.text}`;
  const textY = y + barHeightPx - 5;
  let label = '';
  const inside = barLabel(bar, unknown, w);
  if (inside !== '') {
    label = `<text x="${(x0 + barTextInsetPx).toFixed(1)}" y="${textY}" fill="${bar.cls === 'other' && !unknown ? '#fff' : '#111'}">${escapeXml(inside)}</text>`;
  } else if (bar.cls === 'failed') {
    // Too narrow for its text: the failed operation is named right of its bar, over the others.
    overlay.push(`<text class="failed-label" x="${(x1 + barTextInsetPx).toFixed(1)}" y="${textY}" fill="#700" font-weight="bold" stroke="#fff" stroke-width="3" paint-order="stroke">${escapeXml(bar.text)}</text>`);
  }
  return `<g class="op ${bar.cls}${unknown ? ' unknown' : ''}" data-op="${bar.op.id}"><title>${escapeXml(tip)}</title>` +
    `<rect x="${x0.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barHeightPx}" rx="3" fill="${fill}"${stroke}/>${label}</g>`;
}

/**
 * The text inside a bar: its order number and '?' for an unknown outcome, then its description
 * if that fits; '' if not even the mark fits (an unknown outcome's '?' is always drawn).
 */
function barLabel(bar: Bar, unknown: boolean, widthPx: number): string {
  const mark = [bar.order === undefined ? '' : `#${bar.order}`, unknown ? '?' : ''].filter((s) => s !== '').join(' ');
  const full = mark === '' ? bar.text : `${mark} ${bar.text}`;
  const fits = (text: string): boolean => text.length * charWidthPx + 2 * barTextInsetPx <= widthPx;
  if (fits(full)) return full;
  return mark !== '' && (fits(mark) || unknown) ? mark : '';
}

/** A time or duration in ms, with as many decimals as it needs (at most 3). */
function fmt(ms: number): string {
  return String(Number(ms.toFixed(3)));
}
