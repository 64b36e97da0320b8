// Charts drawn by uPlot: the event-count histogram over a search's range
// and the bar chart of a stats result.
import { html } from 'htm/preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import 'uplot/dist/uPlot.min.css'

const barColor = '#3b6fd4'

// Bars stand on zero.
const countScale = { range: (_, lo, hi) => [Math.min(0, lo), Math.max(hi, 1) * 1.1] }

function useChart(build, deps) {
  const box = useRef(null)
  useEffect(() => {
    const el = box.current
    if (!el) return undefined
    const plot = build(el, Math.max(el.clientWidth, 320))
    const resize = () => plot.setSize({ width: Math.max(el.clientWidth, 320), height: plot.height })
    window.addEventListener('resize', resize)
    return () => {
      window.removeEventListener('resize', resize)
      plot.destroy()
    }
  }, deps)
  return box
}

// Histogram is the events per bucket ({t, events}) of step seconds.
export function Histogram({ buckets, step }) {
  const box = useChart((el, width) => new uPlot({
    width, height: 140,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: (_, lo, hi) => [lo, hi + step] }, y: countScale },
    axes: [{}, { size: 60 }],
    series: [{}, {
      label: 'events', fill: barColor, stroke: barColor,
      paths: uPlot.paths.bars({ size: [0.9, 60], align: 1 }), points: { show: false },
    }],
  }, [buckets.map((b) => b.t), buckets.map((b) => b.events)], el), [buckets, step])
  return html`<div class="chart" data-testid="histogram" ref=${box}></div>`
}

// StatsChart is a bar per result row: the first numeric column by the
// row's group columns (the other columns joined).
export function StatsChart({ columns, rows }) {
  const value = columns.findIndex((c) => /Int|Float/.test(c.type))
  const groups = columns.map((_, i) => i).filter((i) => i !== value)
  const labels = rows.map((r) => groups.map((i) => String(r[i] ?? '')).join(' / ') || columns[value]?.name || '')
  const box = useChart((el, width) => new uPlot({
    width, height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false, range: () => [-0.5, rows.length - 0.5] }, y: countScale },
    axes: [{ splits: () => rows.map((_, i) => i), values: (_, ticks) => ticks.map((i) => labels[i] ?? '') }, { size: 60 }],
    series: [{}, {
      label: columns[value]?.name || 'value', fill: barColor, stroke: barColor,
      paths: uPlot.paths.bars({ size: [0.6, 80] }), points: { show: false },
    }],
  }, [rows.map((_, i) => i), rows.map((r) => Number(r[value]) || 0)], el), [columns, rows])
  if (value < 0 || rows.length === 0) return null
  return html`<div class="chart" data-testid="stats-chart" ref=${box}></div>`
}
