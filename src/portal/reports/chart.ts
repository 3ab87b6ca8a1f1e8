import { html, type SafeHtml } from '../../web/index.ts';
import type { Report } from './report.ts';

/**
 * A bar chart of a counts report as inline SVG, drawn on the server (no
 * script, no inline style: colours come from the site stylesheet). The
 * table under it is the text equivalent; the chart names it with
 * aria-describedby and each bar carries its value in a <title>.
 */

export interface Bar {
  readonly label: string;
  readonly value: number;
}

const MAX_BARS = 60;

/** Per period: the sum of each period over the other groupings, every period of the range shown; otherwise one bar per row. */
export function barsOf(report: Report, label: (value: string | number) => string = String): Bar[] {
  if (report.periods) {
    const sums = new Map(report.periods.map((p) => [p, 0]));
    for (const row of report.rows) sums.set(String(row['period']), (sums.get(String(row['period'])) ?? 0) + Number(row['count']));
    return [...sums].map(([label, value]) => ({ label, value }));
  }
  const dims = report.columns.filter((c) => c !== 'count');
  return report.rows.map((row) => ({ label: dims.map((d) => (row[d] === null || row[d] === undefined ? '–' : label(row[d]!))).join(' · '), value: Number(row['count']) }));
}

export function barChart(bars: readonly Bar[], ids: { title: string; table: string }, titleText: string): SafeHtml {
  const shown = bars.slice(0, MAX_BARS);
  const max = Math.max(1, ...shown.map((b) => b.value));
  const labelWidth = 260;
  const barArea = 380;
  const rowHeight = 22;
  const height = shown.length * rowHeight + 8;
  return html`<figure class="tillit-chart">
<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="${ids.title}" aria-describedby="${ids.table}" viewBox="0 0 ${labelWidth + barArea + 80} ${height}" width="100%" data-chart-bars="${shown.length}">
<title id="${ids.title}">${titleText}</title>
${shown.map((bar, i) => {
  const y = i * rowHeight + 4;
  const width = Math.round((bar.value / max) * barArea);
  return html`<g class="tillit-chart-row"><text class="tillit-chart-label" x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" font-size="12">${bar.label.length > 40 ? `${bar.label.slice(0, 39)}…` : bar.label}</text>
<rect class="tillit-chart-bar" x="${labelWidth}" y="${y}" width="${Math.max(width, bar.value > 0 ? 1 : 0)}" height="${rowHeight - 6}"><title>${bar.label}: ${bar.value}</title></rect>
<text class="tillit-chart-value" x="${labelWidth + width + 6}" y="${y + 15}" font-size="12">${bar.value}</text></g>`;
})}
</svg>
${bars.length > MAX_BARS ? html`<figcaption class="ds-paragraph">${MAX_BARS} / ${bars.length}</figcaption>` : ''}
</figure>`;
}
