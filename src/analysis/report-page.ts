/**
 * The migration report as one self-contained HTML page, for a person deciding whether to translate
 * or re-embed: the figures in tables, the curves as inline SVG. No scripts, no external assets
 * (styles inline), so it renders the same offline, saved to a file, or under a strict CSP.
 * A pure function: the report in, the page out.
 */
import type { CoveragePoint, MigrationReport, ReportDirection } from './report.js'

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => ESCAPES[c])
}

/** A share as a percentage with one decimal, e.g. "75.0%"; "–" for none. */
export function percent (value: number | null): string {
  return value === null ? '–' : `${(100 * value).toFixed(1)}%`
}

const CHART = { width: 560, height: 300, left: 48, right: 16, top: 16, bottom: 40 }
const SERIES = [
  { key: 'coverage', label: 'share kept (coverage)', colour: '#1f77b4', dash: '' },
  { key: 'top1', label: 'top-1 retrieval of the kept', colour: '#d62728', dash: '' },
  { key: 'recallAt10', label: 'neighbour recall@10 of the kept', colour: '#2ca02c', dash: '6 4' }
] as const

const px = (v: number): string => v.toFixed(1)

/** The confidence-coverage curve: threshold on x, coverage and the kept items' quality on y. */
function coverageChart (points: CoveragePoint[], title: string): string {
  const { width, height, left, right, top, bottom } = CHART
  const plotW = width - left - right
  const plotH = height - top - bottom
  const x = (t: number): number => left + t * plotW
  const y = (v: number): number => top + (1 - v) * plotH
  const grid: string[] = []
  for (let s = 0; s <= 10; s += 2) {
    const v = s / 10
    grid.push(`<line class="grid" x1="${px(left)}" x2="${px(left + plotW)}" y1="${px(y(v))}" y2="${px(y(v))}"/>`)
    grid.push(`<text class="tick" x="${px(left - 6)}" y="${px(y(v) + 4)}" text-anchor="end">${s * 10}%</text>`)
    grid.push(`<text class="tick" x="${px(x(v))}" y="${px(top + plotH + 16)}" text-anchor="middle">${v.toFixed(1)}</text>`)
  }
  const lines = SERIES.map(series => {
    // A kept set that is empty has no quality: the line stops there.
    const coords = points.filter(p => p[series.key] !== null).map(p => `${px(x(p.threshold))},${px(y(p[series.key]!))}`)
    const dash = series.dash === '' ? '' : ` stroke-dasharray="${series.dash}"`
    return `<polyline class="curve" data-series="${series.key}" fill="none" stroke="${series.colour}" stroke-width="2"${dash} points="${coords.join(' ')}"/>`
  })
  const legend = SERIES.map((series, i) => {
    const ly = top + 14 + i * 16
    return `<line x1="${px(left + plotW - 200)}" x2="${px(left + plotW - 180)}" y1="${ly - 4}" y2="${ly - 4}" stroke="${series.colour}" stroke-width="2"${series.dash === '' ? '' : ` stroke-dasharray="${series.dash}"`}/>` +
      `<text class="legend" x="${px(left + plotW - 174)}" y="${ly}">${escapeHtml(series.label)}</text>`
  })
  return `<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${escapeHtml(title)}</title>` +
    `<rect class="plot" x="${left}" y="${top}" width="${plotW}" height="${plotH}"/>` +
    grid.join('') + lines.join('') +
    `<rect class="legend-box" x="${px(left + plotW - 206)}" y="${top + 2}" width="200" height="${SERIES.length * 16 + 6}"/>` + legend.join('') +
    `<text class="axis" x="${px(left + plotW / 2)}" y="${height - 6}" text-anchor="middle">confidence threshold (translate rows at or above it, re-embed the rest)</text>` +
    '</svg>'
}

/** Bars of neighbour recall@k and own retrieval@k at k = 1, 5, 10. */
function atKChart (d: ReportDirection, title: string): string {
  const width = 360
  const height = 200
  const left = 40
  const top = 12
  const plotH = 140
  const groups = [['@1', d.recall.at1, d.retrieval.at1], ['@5', d.recall.at5, d.retrieval.at5], ['@10', d.recall.at10, d.retrieval.at10]] as const
  const bars: string[] = []
  groups.forEach(([label, recall, retrieval], g) => {
    const gx = left + 16 + g * 104
    for (const [i, value, colour] of [[0, recall, '#2ca02c'], [1, retrieval, '#d62728']] as const) {
      const h = value * plotH
      bars.push(`<rect class="bar" x="${gx + i * 40}" y="${px(top + plotH - h)}" width="36" height="${px(h)}" fill="${colour}"><title>${i === 0 ? 'recall' : 'retrieval'}${label}: ${percent(value)}</title></rect>`)
      bars.push(`<text class="tick" x="${gx + i * 40 + 18}" y="${px(top + plotH - h - 4)}" text-anchor="middle">${(100 * value).toFixed(0)}</text>`)
    }
    bars.push(`<text class="tick" x="${gx + 38}" y="${top + plotH + 16}" text-anchor="middle">k = ${label.slice(1)}</text>`)
  })
  return `<svg class="chart" role="img" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${escapeHtml(title)}</title>` +
    `<line class="grid" x1="${left}" x2="${width - 8}" y1="${top + plotH}" y2="${top + plotH}"/>` +
    bars.join('') +
    `<rect x="${left}" y="${height - 18}" width="10" height="10" fill="#2ca02c"/><text class="legend" x="${left + 14}" y="${height - 9}">neighbour recall@k</text>` +
    `<rect x="${left + 150}" y="${height - 18}" width="10" height="10" fill="#d62728"/><text class="legend" x="${left + 164}" y="${height - 9}">own-item retrieval@k</text>` +
    '</svg>'
}

function coverageTable (points: CoveragePoint[]): string {
  const rows = points.map(p => `<tr><td>${p.threshold.toFixed(2)}</td><td>${p.kept}</td><td>${percent(p.coverage)}</td><td>${percent(p.top1)}</td><td>${percent(p.recallAt10)}</td></tr>`)
  return '<table class="curve-table"><thead><tr><th>confidence ≥</th><th>items kept</th><th>coverage</th><th>top-1 of kept</th><th>recall@10 of kept</th></tr></thead>' +
    `<tbody>${rows.join('')}</tbody></table>`
}

function directionSection (d: ReportDirection): string {
  const name = `${d.source} → ${d.target}`
  const t = d.translator
  const figures = '<table class="figures"><thead><tr><th>k</th><th>neighbour recall@k</th><th>own-item retrieval@k</th></tr></thead><tbody>' +
    ([['1', d.recall.at1, d.retrieval.at1], ['5', d.recall.at5, d.retrieval.at5], ['10', d.recall.at10, d.retrieval.at10]] as const)
      .map(([k, recall, retrieval]) => `<tr><td>${k}</td><td data-figure="recall@${k}">${percent(recall)}</td><td data-figure="retrieval@${k}">${percent(retrieval)}</td></tr>`).join('') +
    `</tbody></table><p class="summary">MRR (own item, cut at rank 10): <strong data-figure="mrr">${d.mrr.toFixed(3)}</strong> · mean cosine of translated and native rows: <strong data-figure="meanCosine">${d.meanCosine.toFixed(3)}</strong></p>`
  const curve = d.coverage === null
    ? `<p class="note">No confidence-coverage curve: ${escapeHtml(d.coverageNote ?? 'the translator has no confidence model')}.</p>`
    : coverageChart(d.coverage, `Confidence-coverage curve, ${name}`) + coverageTable(d.coverage)
  return `<section class="direction" data-direction="${d.direction}">` +
    `<h2>${escapeHtml(name)} <span class="tag">${d.direction}</span></h2>` +
    `<p class="translator">Translator <code>${escapeHtml(t.id)}</code> (“${escapeHtml(t.name)}”, version ${t.version}, ${escapeHtml(t.method)} with ${escapeHtml(t.scaling)} scaling), on ${d.count} held-out items: queries embedded by <em>${escapeHtml(d.source)}</em>, translated, and searched among the items as <em>${escapeHtml(d.target)}</em> embeds them.</p>` +
    `<div class="row">${atKChart(d, `Recall and retrieval at k, ${name}`)}${figures}</div>` +
    `<h3>Translate or re-embed: the confidence-coverage curve</h3>${curve}</section>`
}

const STYLE = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:1.5em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:2em}h3{font-size:1.05em}
.tag{font-size:.7em;font-weight:normal;color:#555;border:1px solid #bbb;border-radius:3px;padding:1px 6px;vertical-align:middle}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 10px;text-align:right}th{background:#f5f5f5}
.row{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.chart .grid{stroke:#e3e3e3}.chart .plot{fill:none;stroke:#999}.chart text{font-size:11px;fill:#444}.chart .axis{font-size:12px}.chart .legend-box{fill:#fff;fill-opacity:.85;stroke:#ddd}
.note{color:#8a4b00}dl dt{font-weight:600;margin-top:.5em}dl dd{margin-left:1.2em}
`

/** The page for `report`. */
export function renderReportPage (report: MigrationReport): string {
  const first = report.directions[0]
  const title = `Migration report: ${first.source} → ${first.target}`
  return '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>` +
    `<h1>${escapeHtml(title)}</h1>` +
    `<p>What switching costs, measured on <strong>${report.count}</strong> held-out items embedded by both models. Retrieval is by cosine among the target model's vectors as they are (what its vector index holds), and each item's translated vector stands in for its native one as a query. ` +
    `Reverse direction: ${report.reverse.included ? 'reported' : 'not reported'} (${escapeHtml(report.reverse.reason)}).</p>` +
    report.directions.map(directionSection).join('') +
    '<h2>How to read it</h2><dl>' +
    '<dt>neighbour recall@k</dt><dd>Of the k items a native query retrieves, the share the translated query retrieves among its own k: how much of today\'s results a user keeps.</dd>' +
    '<dt>own-item retrieval@k</dt><dd>The share of items whose own vector is among their translated query\'s k nearest.</dd>' +
    '<dt>MRR</dt><dd>Mean of 1 / the rank of the own item among the 10 nearest (0 beyond).</dd>' +
    '<dt>confidence-coverage curve</dt><dd>Each translation has a confidence in [0, 1]. Keeping the rows at or above a threshold translates that share (coverage) at the quality drawn; the rest can be re-embedded by the new model. Pick the lowest threshold whose kept quality is good enough.</dd>' +
    '</dl></body></html>\n'
}
