// The alerts page: the alerts detection rules raised, by status, and
// their triage (acknowledge, close, reopen).
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { all, call, can } from './api.js'
import { Failure, when } from './widgets.js'

const next = { open: ['acknowledged', 'closed'], acknowledged: ['closed', 'open'], closed: ['open'] }
const verb = { acknowledged: 'Acknowledge', closed: 'Close', open: 'Reopen' }

export function AlertsPage() {
  const [status, setStatus] = useState('open')
  const [alerts, setAlerts] = useState(null)
  const [rules, setRules] = useState({})
  const [error, setError] = useState(null)

  async function load() {
    try {
      const [items, rs] = await Promise.all([all(`/api/v1/alerts${status ? `?status=${status}` : ''}`), all('/api/v1/rules')])
      setRules(Object.fromEntries(rs.map((r) => [r.id, r.name])))
      setAlerts(items.reverse())
      setError(null)
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load() }, [status])

  async function change(a, to) {
    try {
      await call('PATCH', `/api/v1/alerts/${a.id}`, { status: to })
      await load()
    } catch (e) {
      setError(e)
    }
  }

  return html`<section>
    <header class="page-head"><h2>Alerts</h2>
      <label>Status <select aria-label="Status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        ${['open', 'acknowledged', 'closed', ''].map((s) => html`<option value=${s}>${s || 'all'}</option>`)}
      </select></label>
      <button onClick=${load}>Refresh</button>
    </header>
    <${Failure} error=${error} />
    ${alerts && (alerts.length === 0 ? html`<p class="empty">No ${status} alerts.</p>` : html`<table class="rows" data-testid="alerts">
      <thead><tr><th>Raised</th><th>Rule</th><th>Group</th><th>Value</th><th>Window</th><th>Status</th><th></th></tr></thead>
      <tbody>${alerts.map((a) => html`<tr>
        <td>${when(a.created_at)}</td><td>${rules[a.rule_id] || (a.rule_id ? `rule ${a.rule_id}` : 'deleted rule')}</td>
        <td>${a.group || ''}</td><td>${a.value}</td><td>${when(a.window_start)} – ${when(a.window_end)}</td>
        <td class=${`status ${a.status}`}>${a.status}</td>
        <td>${can('write') && next[a.status].map((to) => html`<button onClick=${() => change(a, to)}>${verb[to]}</button>`)}</td>
      </tr>`)}</tbody></table>`)}
  </section>`
}
