// The silences page: the tenant's silences in Alertmanager (through the
// api, which adds the tenant's matcher to each), a form to create one
// (prefilled from an alert's labels by its Silence… link) and a button to
// expire one. While a silence is active, Alertmanager sends no
// notification for the alerts it matches.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { call } from './api.js'
import { Failure, when } from './widgets.js'

const durations = ['30m', '1h', '2h', '4h', '8h', '24h', '72h', '168h']

// parseMatchers reads one matcher a line: name=value, name!=value,
// name=~regex or name!~regex.
export function parseMatchers(text) {
  const out = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line) continue
    const m = line.match(/^([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*)$/)
    if (!m) throw new Error(`"${line}" is not a matcher (name=value, name!=value, name=~regex or name!~regex)`)
    let value = m[3].trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    out.push({ name: m[1], value, is_regex: m[2].includes('~'), is_equal: !m[2].startsWith('!') })
  }
  return out
}

function matcherText(m) {
  return `${m.name}${m.is_equal === false ? '!' : '='}${m.is_regex ? '~' : ''}${m.value}`
}

export function SilencesPage({ params }) {
  const prefill = [...(params || new URLSearchParams()).entries()].map(([k, v]) => `${k}=${v}`).join('\n')
  const [silences, setSilences] = useState(null)
  const [matchers, setMatchers] = useState(prefill)
  const [duration, setDuration] = useState('2h')
  const [comment, setComment] = useState('')
  const [error, setError] = useState(null)
  const [created, setCreated] = useState(null)

  async function load() {
    try {
      setSilences((await call('GET', '/api/v1/silences')).items)
      setError(null)
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load() }, [])

  async function create(e) {
    e.preventDefault()
    try {
      const s = await call('POST', '/api/v1/silences', { matchers: parseMatchers(matchers), duration, comment })
      setCreated(s)
      setComment('')
      setError(null)
      await load()
    } catch (err) {
      setError(err)
    }
  }
  async function expire(s) {
    if (!window.confirm(`Expire the silence ${s.id}?`)) return
    try {
      await call('DELETE', `/api/v1/silences/${s.id}`)
      await load()
    } catch (e) {
      setError(e)
    }
  }

  return html`<section>
    <header class="page-head"><h2>Silences</h2><button onClick=${load}>Refresh</button></header>
    <form class="silence" onSubmit=${create} data-testid="silence-form">
      <label>Matchers, one a line (tenant is added for you)
        <textarea name="matchers" rows="3" spellcheck="false" placeholder="alertname=checkout errors" value=${matchers}
          onInput=${(e) => setMatchers(e.target.value)}></textarea></label>
      <div class="row">
        <label>For <select name="duration" value=${duration} onChange=${(e) => setDuration(e.target.value)}>
          ${durations.map((d) => html`<option>${d}</option>`)}</select></label>
        <label>Comment <input name="comment" value=${comment} onInput=${(e) => setComment(e.target.value)} required maxlength="1000" /></label>
      </div>
      <div class="buttons"><button type="submit">Create silence</button></div>
    </form>
    <${Failure} error=${error} />
    ${created && html`<p class="notice" role="status" data-testid="silence-created">Silence ${created.id} is ${created.state} until ${when(created.ends_at)}.</p>`}
    ${silences && (silences.length === 0 ? html`<p class="empty">No silences.</p>` : html`<table class="rows" data-testid="silences">
      <thead><tr><th>Matchers</th><th>From</th><th>Until</th><th>State</th><th>By</th><th>Comment</th><th></th></tr></thead>
      <tbody>${silences.map((s) => html`<tr>
        <td>${s.matchers.map((m) => html`<code>${matcherText(m)}</code> `)}</td>
        <td>${when(s.starts_at)}</td><td>${when(s.ends_at)}</td><td class=${`state ${s.state}`}>${s.state}</td>
        <td>${s.created_by}</td><td>${s.comment}</td>
        <td>${s.state !== 'expired' && html`<button onClick=${() => expire(s)}>Expire</button>`}</td>
      </tr>`)}</tbody></table>`)}
  </section>`
}
