// The detection rules page: the tenant's rules with their next run, a
// form to create or edit one, and a test that asks the api what a run of
// the rule would decide now (POST /api/v1/rules/test: the scheduler's own
// evaluation, so the page and the scheduler cannot disagree).
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { all, call, can } from './api.js'
import { QueryError } from './search.js'
import { Failure, when } from './widgets.js'

const blank = { name: '', query: '', schedule: '@every 5m', window_seconds: 300, threshold_op: '>', threshold: 0, enabled: true, severity: 'warning', labels: {} }

// Labels are edited one a line, name=value.
function labelsText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join('\n')
}
function parseLabels(text) {
  const out = {}
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (!line) continue
    const at = line.indexOf('=')
    if (at < 1) throw Object.assign(new Error(`"${line}" is not name=value`), { field: 'labels' })
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim()
  }
  return out
}

const ops = ['>', '>=', '<', '<=']

// ruleBody is a rule's fields as the api takes them (not its id or times).
function ruleBody(r) {
  return {
    name: r.name, query: r.query, schedule: r.schedule, signal: !!r.signal, enabled: r.enabled,
    window_seconds: Number(r.window_seconds), threshold_op: r.threshold_op, threshold: Number(r.threshold),
    severity: r.severity || 'warning', labels: parseLabels(r.labelsText || ''),
  }
}

// testRule asks the api what a run of the rule would decide now: the
// scheduler's own evaluation over the rule's window, per group, with
// nothing recorded or sent. The form's rule is tested as a draft; a saved
// signal rule as saved (its view counts what it saw since its first run).
function testRule(r) {
  if (r.signal && r.id) return call('POST', `/api/v1/rules/${r.id}/test`)
  return call('POST', '/api/v1/rules/test', ruleBody(r))
}

// TestResult shows a rule test's answer: each group's value and whether
// it would raise an alert, those that would first.
function TestResult({ test }) {
  const seconds = Math.round((Date.parse(test.window_end) - Date.parse(test.window_start)) / 1000)
  const alerts = test.alerts === 0 ? 'no alert would be raised' : `${test.alerts} alert${test.alerts === 1 ? '' : 's'} would be raised`
  return html`<div class="test" data-testid="rule-test">
    <p>Tested <code>${test.query}</code>: ${alerts} (alert when the value ${test.threshold_op} ${test.threshold}).</p>
    ${test.groups.map((g) => html`<div class=${g.fires ? 'fires' : ''}>
      ${g.group && html`<b>${g.group}</b>: `}${g.value} in the last ${seconds}s:
      ${g.fires ? ' would raise an alert' : ' would not raise an alert'}</div>`)}
    ${test.truncated && html`<p>Showing ${test.groups.length} of ${test.total_groups} groups.</p>`}
  </div>`
}

function RuleForm({ rule, onSaved, onCancel }) {
  const [r, setR] = useState({ ...rule, labelsText: labelsText(rule.labels) })
  const [error, setError] = useState(null)
  const [test, setTest] = useState(null)
  const set = (k, conv = (v) => v) => (e) => setR({ ...r, [k]: conv(e.target.type === 'checkbox' ? e.target.checked : e.target.value) })

  async function save(e) {
    e.preventDefault()
    try {
      const saved = await call(r.id ? 'PUT' : 'POST', r.id ? `/api/v1/rules/${r.id}` : '/api/v1/rules', ruleBody(r))
      setError(null)
      onSaved(saved)
    } catch (err) {
      setError(err)
    }
  }
  async function runTest() {
    setTest(null)
    try {
      setTest({ ...(await testRule(r)), query: r.query })
      setError(null)
    } catch (err) {
      setError(err)
    }
  }

  return html`<form class="rule" onSubmit=${save} data-testid="rule-form">
    <h3>${r.id ? `Edit ${rule.name}` : 'New rule'}</h3>
    <label>Name <input name="name" value=${r.name} onInput=${set('name')} required maxlength="200" /></label>
    <label>Query <textarea name="query" rows="2" spellcheck="false" value=${r.query} onInput=${set('query')}></textarea></label>
    <div class="row">
      <label>Schedule <input name="schedule" value=${r.schedule} onInput=${set('schedule')} title="@every 5m or five-field cron (UTC)" /></label>
      <label>Window (s) <input name="window_seconds" type="number" min="60" value=${r.window_seconds} onInput=${set('window_seconds')} /></label>
      <label>Alert when count <select name="threshold_op" value=${r.threshold_op} onChange=${set('threshold_op')}>
        ${ops.map((op) => html`<option>${op}</option>`)}</select></label>
      <label>Threshold <input name="threshold" type="number" step="any" value=${r.threshold} onInput=${set('threshold')} /></label>
      <label class="check"><input name="enabled" type="checkbox" checked=${r.enabled} onChange=${set('enabled')} /> Enabled</label>
    </div>
    <div class="row">
      <label>Severity <select name="severity" value=${r.severity || 'warning'} onChange=${set('severity')}>
        ${['warning', 'critical', 'info'].map((s) => html`<option>${s}</option>`)}</select></label>
      <label>Alert labels (name=value, one a line; for Alertmanager's routes)
        <textarea name="labels" rows="2" spellcheck="false" value=${r.labelsText} onInput=${set('labelsText')}></textarea></label>
    </div>
    ${error?.field === 'query' ? html`<${QueryError} query=${r.query} error=${error} />` : html`<${Failure} error=${error} />`}
    ${test && html`<${TestResult} test=${test} />`}
    <div class="buttons">
      <button type="submit">Save rule</button>
      <button type="button" onClick=${runTest}>Test now</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`
}

export function RulesPage() {
  const [rules, setRules] = useState(null)
  const [editing, setEditing] = useState(null)
  const [error, setError] = useState(null)

  async function load() {
    try {
      setRules(await all('/api/v1/rules'))
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load() }, [])

  async function remove(r) {
    if (!window.confirm(`Delete the rule ${r.name}?`)) return
    try {
      await call('DELETE', `/api/v1/rules/${r.id}`)
      await load()
    } catch (e) {
      setError(e)
    }
  }

  return html`<section>
    <header class="page-head"><h2>Detection rules</h2>
      ${can('write') && html`<button onClick=${() => setEditing({ ...blank })}>New rule</button>`}</header>
    <${Failure} error=${error} />
    ${editing && html`<${RuleForm} key=${editing.id || 'new'} rule=${editing}
      onSaved=${() => { setEditing(null); load() }} onCancel=${() => setEditing(null)} />`}
    ${rules && (rules.length === 0 ? html`<p class="empty">No rules yet.</p>` : html`<table class="rows" data-testid="rules">
      <thead><tr><th>Name</th><th>Query</th><th>Schedule</th><th>Alert when</th><th>Next run</th><th>Enabled</th><th></th></tr></thead>
      <tbody>${rules.map((r) => html`<tr>
        <td>${r.name} <span class=${`severity ${r.severity}`}>${r.severity}</span></td><td><code>${r.query}</code></td><td>${r.signal ? 'signal' : r.schedule}</td>
        <td>count ${r.threshold_op} ${r.threshold} in ${r.window_seconds}s</td>
        <td data-testid="next-run">${when(r.next_run_at)}</td><td>${r.enabled ? 'yes' : 'no'}</td>
        <td>${can('write') && html`<button onClick=${() => setEditing({ ...r })}>Edit</button> <button onClick=${() => remove(r)}>Delete</button>`}</td></tr>`)}</tbody>
    </table>`)}
  </section>`
}
