// The audit trail (admins): who did what, in this tenant, when and from
// where, newest first, with each change's object before and after;
// filtered by actor, action and outcome, older pages on demand.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call } from './api.js'
import { Failure, when } from './widgets.js'

// change shows the fields that differ between before and after (all of
// after for a creation, all of before for a deletion).
function change(e) {
  const b = e.before || {}
  const a = e.after || {}
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])]
  const show = (v) => (v === undefined || v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v))
  return keys.filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]))
    .map((k) => html`<div><b>${k}</b>: ${e.before ? html`<s>${show(b[k])}</s> → ` : ''}${e.after ? show(a[k]) : ''}</div>`)
}

export function AuditPage() {
  const [filter, setFilter] = useState({ actor: '', action: '', outcome: '' })
  const [entries, setEntries] = useState(null)
  const [next, setNext] = useState('')
  const [error, setError] = useState(null)

  async function load(cursor) {
    const q = new URLSearchParams({ limit: '50' })
    Object.entries(filter).forEach(([k, v]) => { if (v) q.set(k, v) })
    if (cursor) q.set('cursor', cursor)
    try {
      const page = await call('GET', `/api/v1/audit?${q}`)
      setEntries(cursor ? [...entries, ...page.items] : page.items)
      setNext(page.next_cursor || '')
      setError(null)
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load('') }, [])
  const set = (k) => (e) => setFilter({ ...filter, [k]: e.target.value })

  return html`<section>
    <header class="page-head"><h2>Audit trail</h2>
      <form class="inline" onSubmit=${(e) => { e.preventDefault(); load('') }}>
        <input aria-label="Actor" placeholder="Who (email or token name)" value=${filter.actor} onInput=${set('actor')} />
        <input aria-label="Action" placeholder="Action (rule. or rule.update)" value=${filter.action} onInput=${set('action')} />
        <select aria-label="Outcome" value=${filter.outcome} onChange=${set('outcome')}>
          ${['', 'ok', 'denied', 'failed'].map((o) => html`<option value=${o}>${o || 'any outcome'}</option>`)}
        </select>
        <button type="submit">Filter</button>
      </form>
    </header>
    <${Failure} error=${error} />
    ${entries && (entries.length === 0 ? html`<p class="empty">No entries.</p>` : html`<table class="rows" data-testid="audit">
      <thead><tr><th>When</th><th>Who</th><th>Action</th><th>Object</th><th>Outcome</th><th>Change</th><th>From</th></tr></thead>
      <tbody>${entries.map((e) => html`<tr>
        <td>${when(e.at)}</td>
        <td>${e.actor || e.actor_kind}${e.actor_kind === 'token' ? ' (token)' : ''}</td>
        <td><code>${e.action}</code></td>
        <td>${e.object_type}${e.object_id ? ` ${e.object_id}` : ''}</td>
        <td class=${`status ${e.outcome}`}>${e.outcome}${e.detail ? html`<div class="hint">${e.detail}</div>` : ''}</td>
        <td class="change">${change(e)}</td>
        <td>${e.ip}</td>
      </tr>`)}</tbody></table>`)}
    ${next && html`<button onClick=${() => load(next)}>Older</button>`}
  </section>`
}
