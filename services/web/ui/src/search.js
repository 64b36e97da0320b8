// The search page: a query in the search language over a time range, its
// histogram, its rows as they stream in, page by page, and each event's
// attributes; a query that does not parse shows where.
import { html } from 'htm/preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import { call, can, histogram, problemsOf, search } from './api.js'
import { Histogram, StatsChart } from './charts.js'
import { Failure } from './widgets.js'

const pageSize = 50

// QueryError shows the query with a caret under the column at fault.
export function QueryError({ query, error }) {
  if (!error) return null
  if (!error.column) return html`<${Failure} error=${error} />`
  // The column counts bytes from 1 over the whole text; find its line.
  const bytes = new TextEncoder().encode(query)
  const before = new TextDecoder().decode(bytes.slice(0, error.column - 1))
  const lines = before.split('\n')
  const line = query.split('\n')[lines.length - 1]
  const caret = ' '.repeat(lines[lines.length - 1].length) + '^'
  return html`<div class="error" role="alert" data-testid="query-error">
    <pre class="caret">${line}${'\n'}${caret}</pre>
    <div>${error.message}</div>
  </div>`
}

// cell shows one value of a row.
function cell(v) {
  if (v === null || v === undefined) return ''
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${x}`).join(' ')
  return String(v)
}

function EventDetail({ columns, row, onClose }) {
  const fields = []
  columns.forEach((c, i) => {
    const v = row[i]
    if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => fields.push([k, String(x)]))
    else fields.push([c.name, cell(v)])
  })
  return html`<aside class="detail" data-testid="event-detail">
    <header><h3>Event</h3><button onClick=${onClose}>Close</button></header>
    <table><tbody>
      ${fields.map(([k, v]) => html`<tr><th>${k}</th><td><code>${v}</code></td></tr>`)}
    </tbody></table>
  </aside>`
}

// SearchPage runs the query in params (from the address: #/search?q=...).
export function SearchPage({ params, navigate }) {
  const [query, setQuery] = useState(params.get('q') || '')
  const [from, setFrom] = useState(params.get('from') || '-24h')
  const [to, setTo] = useState(params.get('to') || 'now')
  const [result, setResult] = useState(null)
  const [hist, setHist] = useState(null)
  const [error, setError] = useState(null)
  const [running, setRunning] = useState(false)
  const [open, setOpen] = useState(null)
  const [saveName, setSaveName] = useState('')
  const [saved, setSaved] = useState('')
  // cursors[i] is the cursor of page i+1 (page 1 has none).
  const [cursors, setCursors] = useState([''])
  const [page, setPage] = useState(0)
  const ran = useRef(null)
  const abort = useRef(null)

  async function run(q, f, t, pageIndex, cursorList) {
    abort.current?.abort()
    const ctl = new AbortController()
    abort.current = ctl
    setRunning(true)
    setError(null)
    setOpen(null)
    setSaved('')
    ran.current = { query: q, from: f, to: t }
    const res = { columns: [], rows: [], tail: null }
    setResult({ ...res })
    const cursor = cursorList[pageIndex]
    if (pageIndex === 0) {
      setHist(null)
      histogram(q, f, t, ctl.signal).then(setHist).catch((e) => e.name !== 'AbortError' && setHist({ error: e }))
    }
    try {
      const body = cursor ? { query: q, cursor, page_size: pageSize } : { query: q, from: f, to: t, page_size: pageSize }
      res.tail = await search(body, {
        signal: ctl.signal,
        onColumns: (cols) => { res.columns = cols; setResult({ ...res }) },
        onRows: (rows) => { res.rows = res.rows.concat(rows); setResult({ ...res }) },
      })
      setResult({ ...res })
      const failed = problemsOf(res.tail)
      if (failed.length) setError(failed[0])
      const next = cursorList.slice(0, pageIndex + 1)
      if (res.tail.next_cursor) next.push(res.tail.next_cursor)
      setCursors(next)
      setPage(pageIndex)
    } catch (e) {
      if (e.name !== 'AbortError') {
        setError(e)
        setResult(null)
      }
    } finally {
      if (abort.current === ctl) setRunning(false)
    }
  }

  function submit(e) {
    e.preventDefault()
    navigate(`#/search?${new URLSearchParams({ q: query, from, to })}`, true)
    run(query, from, to, 0, [''])
  }

  useEffect(() => {
    if (params.get('q') !== null) run(params.get('q'), params.get('from') || '-24h', params.get('to') || 'now', 0, [''])
    return () => abort.current?.abort()
  }, [])

  async function save(e) {
    e.preventDefault()
    try {
      const s = await call('POST', '/search/v1/saved-searches', { name: saveName, query, from, to })
      setSaved(`Saved as “${s.name}”.`)
      setSaveName('')
    } catch (err) {
      setSaved('')
      setError(err)
    }
  }

  const isStats = /\|\s*stats\b/i.test(ran.current?.query || '')
  const tail = result?.tail
  return html`<section class="search">
    <form class="query" onSubmit=${submit}>
      <textarea aria-label="Query" name="query" rows="2" spellcheck="false" placeholder='level:error service:api "connection reset" | stats count() by host'
        value=${query} onInput=${(e) => setQuery(e.target.value)}
        onKeyDown=${(e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); e.target.form.requestSubmit() } }}></textarea>
      <label>From <input name="from" value=${from} onInput=${(e) => setFrom(e.target.value)} /></label>
      <label>To <input name="to" value=${to} onInput=${(e) => setTo(e.target.value)} /></label>
      <button type="submit" disabled=${running}>${running ? 'Searching…' : 'Search'}</button>
    </form>
    <${QueryError} query=${ran.current?.query || query} error=${error} />
    ${hist && !hist.error && !isStats && html`<div class="histogram-head">
      <span data-testid="histogram-total">${hist.total} events</span> · ${hist.step_seconds}s buckets</div>
      <${Histogram} buckets=${hist.buckets} step=${hist.step_seconds} />`}
    ${hist?.error && !error && html`<${Failure} error=${hist.error} />`}
    ${result && isStats && tail && html`<${StatsChart} columns=${result.columns} rows=${result.rows} />`}
    ${result && html`<div class="results">
      <div class="results-head">
        <span data-testid="result-count">${running && !tail ? `${result.rows.length} rows…` : `${result.rows.length} rows`}</span>
        ${tail && html` · page ${page + 1} · ${tail.stats.elapsed_ms.toFixed(1)} ms, ${tail.stats.rows_read} rows read`}
        <span class="pager">
          <button disabled=${running || page === 0} onClick=${() => run(ran.current.query, ran.current.from, ran.current.to, page - 1, cursors)}>Previous</button>
          <button disabled=${running || cursors.length <= page + 1} onClick=${() => run(ran.current.query, ran.current.from, ran.current.to, page + 1, cursors)}>Next page</button>
        </span>
      </div>
      <div class="table-wrap"><table class="rows" data-testid="results">
        <thead><tr>${result.columns.map((c) => html`<th title=${c.type}>${c.name}</th>`)}</tr></thead>
        <tbody>${result.rows.map((r, i) => html`<tr class=${open === i ? 'open' : ''} onClick=${() => setOpen(i)}>
          ${r.map((v) => html`<td>${cell(v)}</td>`)}</tr>`)}</tbody>
      </table></div>
    </div>`}
    ${open !== null && result?.rows[open] && html`<${EventDetail} columns=${result.columns} row=${result.rows[open]} onClose=${() => setOpen(null)} />`}
    ${ran.current && can('write') && html`<form class="save" onSubmit=${save}>
      <input aria-label="Saved search name" placeholder="Name" value=${saveName} onInput=${(e) => setSaveName(e.target.value)} required maxlength="200" />
      <button type="submit">Save search</button> <span data-testid="saved">${saved}</span>
    </form>`}
  </section>`
}
