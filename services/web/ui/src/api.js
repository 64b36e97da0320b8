// The UI's calls to nano's api and search services. They are on the same
// origin as the UI (the Compose host's Caddy and the clusters' Ingress
// route /api/ and /search/), so the browser sends no cross-origin request.
// The API token lives in sessionStorage: gone when the tab closes, never in
// a URL.

const tokenKey = 'nano.token'

export const session = {
  token: () => sessionStorage.getItem(tokenKey),
  signIn: (t) => sessionStorage.setItem(tokenKey, t),
  signOut: () => sessionStorage.removeItem(tokenKey),
}

// ApiError is a failed call: the HTTP status, the service's message and,
// when it names them, the request field or the query column at fault.
export class ApiError extends Error {
  constructor(status, message, field, column) {
    super(message)
    this.status = status
    this.field = field || ''
    this.column = column || 0
  }
}

async function failure(resp) {
  let detail = {}
  try {
    detail = (await resp.json()).error || {}
  } catch {
    // not JSON: a proxy's page
  }
  if (resp.status === 401) {
    session.signOut()
    window.dispatchEvent(new Event('nano-signed-out'))
  }
  return new ApiError(resp.status, detail.message || `${resp.status} ${resp.statusText}`, detail.field, detail.column)
}

function headers(extra) {
  return { Authorization: `Bearer ${session.token()}`, ...extra }
}

// call sends one request and answers its JSON body (null for 204).
export async function call(method, path, body, signal) {
  const init = { method, headers: headers(body === undefined ? {} : { 'Content-Type': 'application/json' }), signal }
  if (body !== undefined) init.body = JSON.stringify(body)
  const resp = await fetch(path, init)
  if (!resp.ok) throw await failure(resp)
  if (resp.status === 204) return null
  const text = await resp.text()
  return text ? JSON.parse(text) : null
}

// checkToken asks the api whether a token is valid, before keeping it.
export async function checkToken(token) {
  const resp = await fetch('/api/v1/alerts?limit=1', { headers: { Authorization: `Bearer ${token}` } })
  if (resp.status === 401) throw new ApiError(401, 'this token is not valid (revoked, expired or mistyped)')
  if (!resp.ok && resp.status !== 403) throw await failure(resp)
}

// search runs POST /search/v1/search and reads its answer as it streams:
// {"columns":[...],"rows":[<row>\n,<row>\n...],"count":N,...}. onColumns
// gets the columns, onRows each batch of rows as it arrives; it answers the
// tail (count, next_cursor, stats, and error when the search failed after
// rows were sent).
export async function search(body, { onColumns, onRows, signal }) {
  const resp = await fetch('/search/v1/search', {
    method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body), signal,
  })
  if (!resp.ok) throw await failure(resp)
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader()
  let buf = ''
  let head = true
  const marker = '"rows":['
  for (;;) {
    const { value, done } = await reader.read()
    if (value) buf += value
    if (head) {
      const at = buf.indexOf(marker)
      if (at < 0) {
        if (done) throw new ApiError(502, 'the search service ended its answer early')
        continue
      }
      onColumns(JSON.parse(buf.slice(0, at) + '"rows":[]}').columns)
      buf = buf.slice(at + marker.length)
      head = false
    }
    // Rows end with a newline; the tail starts with ']'.
    const rows = []
    let nl
    while (!buf.startsWith(']') && (nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/^,/, '')
      buf = buf.slice(nl + 1)
      rows.push(JSON.parse(line))
    }
    if (rows.length) onRows(rows)
    if (buf.startsWith(']')) {
      if (!done && !buf.trimEnd().endsWith('}')) continue
      const rest = await drain(reader, buf, done)
      return JSON.parse('{' + rest.trim().slice(2))
    }
    if (done) throw new ApiError(502, 'the search service ended its answer early')
  }
}

async function drain(reader, buf, done) {
  while (!done) {
    const r = await reader.read()
    if (r.value) buf += r.value
    done = r.done
  }
  return buf
}

// histogram counts the query's events per step of its range.
export function histogram(query, from, to, signal) {
  return call('POST', '/search/v1/histogram', { query, from, to }, signal)
}

// all reads every page of a list endpoint of the api (items, next_cursor),
// at most max items.
export async function all(path, max = 1000) {
  const items = []
  let cursor = ''
  do {
    const sep = path.includes('?') ? '&' : '?'
    const page = await call('GET', `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
    items.push(...(page.items || []))
    cursor = page.next_cursor || ''
  } while (cursor && items.length < max)
  return items
}
