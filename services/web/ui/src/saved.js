// Saved searches and the search history: both reopen in the search page.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call, can } from './api.js'
import { Failure, when } from './widgets.js'

function reopen(navigate, q, from, to) {
  navigate(`#/search?${new URLSearchParams({ q, from: from || '-24h', to: to || 'now' })}`)
}

export function SavedPage({ navigate }) {
  const [saved, setSaved] = useState(null)
  const [history, setHistory] = useState(null)
  const [error, setError] = useState(null)

  async function load() {
    try {
      const [s, h] = await Promise.all([call('GET', '/search/v1/saved-searches?limit=100'), call('GET', '/search/v1/history?limit=50')])
      setSaved(s.items || [])
      setHistory(h.items || [])
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load() }, [])

  async function remove(s) {
    try {
      await call('DELETE', `/search/v1/saved-searches/${s.id}`)
      await load()
    } catch (e) {
      setError(e)
    }
  }

  return html`<section>
    <header class="page-head"><h2>Saved searches</h2></header>
    <${Failure} error=${error} />
    ${saved && (saved.length === 0 ? html`<p class="empty">Nothing saved yet: run a search and save it.</p>` : html`<table class="rows" data-testid="saved-searches">
      <thead><tr><th>Name</th><th>Query</th><th>Range</th><th></th></tr></thead>
      <tbody>${saved.map((s) => html`<tr><td><a href="#" onClick=${(e) => { e.preventDefault(); reopen(navigate, s.query, s.from, s.to) }}>${s.name}</a></td>
        <td><code>${s.query}</code></td><td>${s.from || '-24h'} – ${s.to || 'now'}</td><td>${can('write') && html`<button onClick=${() => remove(s)}>Delete</button>`}</td></tr>`)}</tbody>
    </table>`)}
    <h2>History</h2>
    ${history && html`<table class="rows" data-testid="history">
      <thead><tr><th>Started</th><th>Query</th><th>Status</th><th>Rows</th><th>Time</th></tr></thead>
      <tbody>${history.map((h) => html`<tr>
        <td>${when(h.started_at)}</td>
        <td><a href="#" onClick=${(e) => { e.preventDefault(); reopen(navigate, h.query, h.from, h.to) }}><code>${h.query || '(all events)'}</code></a></td>
        <td class=${`status ${h.status}`} title=${h.error || ''}>${h.status}</td><td>${h.rows}</td><td>${h.elapsed_ms.toFixed(1)} ms</td></tr>`)}</tbody>
    </table>`}
  </section>`
}
