import type { Ratio } from './throughput-report.js';

/**
 * A small horizontal bar chart of the throughput bench's ratios, as hand-written SVG: one bar per
 * ratio on a log scale (1 in the middle of what is drawn), above 1 better for synod, green where
 * the goal (a tick) is met, red where not, grey where there is none.
 */

const rowHeightPx = 22;
const labelWidthPx = 330;
const plotWidthPx = 420;
const marginPx = 12;
const titleHeightPx = 30;
const axisHeightPx = 24;
const valueRoomPx = 60;

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function ratioChart(ratios: readonly Ratio[], title: string): string {
  const finite = ratios.filter((r) => Number.isFinite(r.value) && r.value > 0);
  const values = finite.flatMap((r) => [r.value, ...(r.goal === undefined ? [] : [r.goal])]);
  // Whole powers of ten around every value and goal, at least 0.1 to 10.
  const lo = Math.min(-1, Math.floor(Math.log10(Math.min(...values, 1))));
  const hi = Math.max(1, Math.ceil(Math.log10(Math.max(...values, 1))));
  const xOf = (v: number): number => labelWidthPx + ((Math.log10(v) - lo) / (hi - lo)) * plotWidthPx;
  // Room on the right for the value of a bar that reaches the top of the scale.
  const width = labelWidthPx + plotWidthPx + 2 * marginPx + valueRoomPx;
  const height = titleHeightPx + finite.length * rowHeightPx + axisHeightPx + marginPx;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${marginPx}" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
  ];
  const top = titleHeightPx;
  const bottom = top + finite.length * rowHeightPx;
  for (let p = lo; p <= hi; p++) {
    const x = xOf(10 ** p).toFixed(1);
    parts.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${bottom}" stroke="${p === 0 ? '#000' : '#ddd'}"/>`);
    parts.push(`<text x="${x}" y="${bottom + 16}" text-anchor="middle">${10 ** p >= 1 ? 10 ** p : (10 ** p).toFixed(-p)}x</text>`);
  }
  finite.forEach((r, i) => {
    const y = top + i * rowHeightPx;
    const one = xOf(1);
    const end = xOf(r.value);
    const color = r.goal === undefined ? '#888' : r.value >= r.goal ? '#2a2' : '#c33';
    parts.push(`<text x="${labelWidthPx - 6}" y="${y + 15}" text-anchor="end">${escape(r.name)}</text>`);
    parts.push(`<rect x="${Math.min(one, end).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(end - one)).toFixed(1)}" height="${rowHeightPx - 8}" fill="${color}"/>`);
    parts.push(`<text x="${(Math.max(one, end) + 4).toFixed(1)}" y="${y + 15}">${r.value.toFixed(2)}x</text>`);
    if (r.goal !== undefined) {
      const g = xOf(r.goal).toFixed(1);
      parts.push(`<line x1="${g}" y1="${y + 1}" x2="${g}" y2="${y + rowHeightPx - 1}" stroke="#000" stroke-width="2"/>`);
    }
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
