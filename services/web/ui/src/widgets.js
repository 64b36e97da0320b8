// Small pieces the pages share.
import { html } from 'htm/preact'

// Failure shows a failed call's problems, each naming the field it names.
export function Failure({ error }) {
  if (!error) return null
  const problems = error.problems?.length ? error.problems : [error]
  const line = (p) => `${p.field ? `${p.field}: ` : ''}${p.message}`
  if (problems.length === 1) return html`<div class="error" role="alert">${line(problems[0])}</div>`
  return html`<div class="error" role="alert"><ul>${problems.map((p) => html`<li>${line(p)}</li>`)}</ul></div>`
}

// when shows a time in the browser's zone, to the second.
export function when(t) {
  if (!t) return ''
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
}
