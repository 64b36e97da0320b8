// Small pieces the pages share.
import { html } from 'htm/preact'

// Failure shows a failed call's message, naming the field it names.
export function Failure({ error }) {
  if (!error) return null
  return html`<div class="error" role="alert">${error.field ? `${error.field}: ` : ''}${error.message}</div>`
}

// when shows a time in the browser's zone, to the second.
export function when(t) {
  if (!t) return ''
  const d = new Date(t)
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
}
