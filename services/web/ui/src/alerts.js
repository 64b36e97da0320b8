// The alerts page: the alerts detection rules raised, by status, their
// triage (acknowledge, close, reopen), and where each one's notification
// stands: posted to Alertmanager or not, and there active (sent to its
// receivers) or silenced. Whether alerts go anywhere at all is said above.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { all, call, can } from './api.js'
import { Failure, when } from './widgets.js'

const next = { open: ['acknowledged', 'closed'], acknowledged: ['closed', 'open'], closed: ['open'] }
const verb = { acknowledged: 'Acknowledge', closed: 'Close', open: 'Reopen' }

// nano's labels: the rest of an alert's labels are its rule's and its
// group's.
const own = ['alertname', 'tenant', 'rule_id', 'severity']

function sameLabels(a, b) {
  const ka = Object.keys(a || {})
  return ka.length === Object.keys(b || {}).length && ka.every((k) => a[k] === b[k])
}

// deliveryText says where an alert's notification stands.
function deliveryText(a, held) {
  const d = a.delivery || { state: 'off' }
  switch (d.state) {
    case 'off': return 'not sent (no Alertmanager)'
    case 'pending': return 'waiting to be sent'
    case 'failed': return `not delivered: ${d.error}`
    case 'resolving': return 'ending'
    case 'resolved': return 'ended in Alertmanager'
  }
  if (!held) return 'sent to Alertmanager'
  if (held.state === 'suppressed') return `silenced (${held.silenced_by.join(', ') || 'inhibited'})`
  if (held.receivers.length) return `sent to ${held.receivers.join(', ')}`
  return `sent to Alertmanager (${held.state})`
}

// silenceLink opens the silences page with the alert's labels as matchers.
function silenceLink(a) {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(a.labels || {})) {
    if (k !== 'tenant' && k !== 'severity') q.set(k, v)
  }
  return `#/silences?${q}`
}

export function AlertsPage() {
  const [status, setStatus] = useState('open')
  const [alerts, setAlerts] = useState(null)
  const [rules, setRules] = useState({})
  const [delivery, setDelivery] = useState(null)
  const [error, setError] = useState(null)

  async function load() {
    try {
      const [items, rs, dv] = await Promise.all([all(`/api/v1/alerts${status ? `?status=${status}` : ''}`), all('/api/v1/rules'),
        call('GET', '/api/v1/delivery')])
      setRules(Object.fromEntries(rs.map((r) => [r.id, r.name])))
      setAlerts(items.reverse())
      setDelivery(dv)
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

  const nowhere = delivery && !(delivery.enabled && delivery.configured)
  return html`<section>
    <header class="page-head"><h2>Alerts</h2>
      <label>Status <select aria-label="Status" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        ${['open', 'acknowledged', 'closed', ''].map((s) => html`<option value=${s}>${s || 'all'}</option>`)}
      </select></label>
      <button onClick=${load}>Refresh</button>
    </header>
    ${delivery && html`<div class=${nowhere ? 'notice warn' : 'notice'} role="status" data-testid="delivery-banner">
      ${delivery.message}${delivery.error ? ` (${delivery.error})` : ''}</div>`}
    <${Failure} error=${error} />
    ${alerts && (alerts.length === 0 ? html`<p class="empty">No ${status} alerts.</p>` : html`<table class="rows" data-testid="alerts">
      <thead><tr><th>Raised</th><th>Rule</th><th>Group</th><th>Value</th><th>Window</th><th>Status</th><th>Notification</th><th></th></tr></thead>
      <tbody>${alerts.map((a) => {
        const held = (delivery?.alerts || []).find((x) => sameLabels(x.labels, a.labels))
        const extra = Object.entries(a.labels || {}).filter(([k]) => !own.includes(k))
        return html`<tr>
        <td>${when(a.created_at)}</td><td>${rules[a.rule_id] || (a.rule_id ? `rule ${a.rule_id}` : 'deleted rule')}
          ${a.labels?.severity && html` <span class=${`severity ${a.labels.severity}`}>${a.labels.severity}</span>`}</td>
        <td>${a.group || ''}${extra.length > 0 && html`<div class="labels">${extra.map(([k, v]) => html`<code>${k}=${v}</code> `)}</div>`}</td>
        <td>${a.value}</td><td>${when(a.window_start)} – ${when(a.window_end)}</td>
        <td class=${`status ${a.status}`}>${a.status}</td>
        <td data-testid="delivery" class=${`delivery ${a.delivery?.state || 'off'}`}>${deliveryText(a, held)}</td>
        <td>${can('write') && next[a.status].map((to) => html`<button onClick=${() => change(a, to)}>${verb[to]}</button>`)}
          ${a.status === 'open' && delivery?.enabled && can('alerts') && html` <a class="button" href=${silenceLink(a)}>Silence…</a>`}</td>
      </tr>`
      })}</tbody></table>`)}
  </section>`
}
