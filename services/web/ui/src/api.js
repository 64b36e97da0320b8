// The UI's calls to nano's api and search services. They are on the same
// origin as the UI (the Compose host's Caddy and the clusters' Ingress
// route /api/ and /search/), so the browser sends no cross-origin request.
// Signed in with an API token, the token lives in sessionStorage: gone when
// the tab closes, never in a URL. Signed in through the identity provider,
// the browser holds an HttpOnly session cookie this code never sees; its
// state-changing calls carry the session's CSRF token, which only this
// origin can read (GET /api/v1/session).

const tokenKey = 'nano.token'

// me is who the UI speaks for (GET /api/v1/session): kind, tenant, role,
// scopes, email, and a session's csrf_token.
let me = null

export const session = {
  token: () => sessionStorage.getItem(tokenKey),
  signIn: (t) => sessionStorage.setItem(tokenKey, t),
  signOut: () => { sessionStorage.removeItem(tokenKey); me = null },
  me: () => me,
}

// can says whether the signed-in principal holds scope (admin holds every
// scope but platform); the pages hide what it cannot do.
export function can(scope) {
  if (!me) return false
  const scopes = me.scopes || []
  return scopes.includes(scope) || (scope !== 'platform' && scopes.includes('admin'))
}

// loadMe asks the api who this tab speaks for (its token, else its session
// cookie); null when nobody is signed in.
export async function loadMe() {
  const t = session.token()
  const resp = await fetch('/api/v1/session', { headers: t ? { Authorization: `Bearer ${t}` } : {}, cache: 'no-store' })
  if (resp.status === 401) {
    me = null
    return null
  }
  if (!resp.ok) throw await failure(resp)
  me = await resp.json()
  return me
}

// signOut ends a session at the api (its cookie stops working at once) or
// forgets the token.
export async function signOut() {
  if (me && me.kind === 'user') {
    await fetch('/api/v1/auth/logout', { method: 'POST', headers: { 'X-CSRF-Token': me.csrf_token } }).catch(() => {})
  }
  session.signOut()
}

// authConfig says whether single sign-on is configured.
export async function authConfig() {
  const resp = await fetch('/api/v1/auth/config')
  return resp.ok ? resp.json() : { oidc: false }
}

// ApiError is a failed call: the HTTP status and the problems of the
// service's error envelope ({"errors":[{"message","field","column"}]},
// docs/reference/errors.md); message, field and column are the first
// problem's: the request field or the query column at fault, when named.
export class ApiError extends Error {
  constructor(status, message, field, column, problems) {
    super(message)
    this.status = status
    this.field = field || ''
    this.column = column || 0
    this.problems = problems || [{ message, field: this.field, column: this.column }]
  }
}

// problemsOf reads an error envelope's problems ([] when there are none).
export function problemsOf(body) {
  return Array.isArray(body?.errors) ? body.errors.filter((p) => p && typeof p.message === 'string') : []
}

async function failure(resp) {
  let problems = []
  try {
    problems = problemsOf(await resp.json())
  } catch {
    // not JSON: a proxy's page
  }
  if (resp.status === 401) {
    session.signOut()
    window.dispatchEvent(new Event('nano-signed-out'))
  }
  if (!problems.length) return new ApiError(resp.status, `${resp.status} ${resp.statusText}`)
  const [first] = problems
  return new ApiError(resp.status, first.message, first.field, first.column, problems)
}

function headers(extra) {
  const t = session.token()
  if (t) return { Authorization: `Bearer ${t}`, ...extra }
  return { 'X-CSRF-Token': me?.csrf_token || '', ...extra }
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
// tail (count, next_cursor, stats, and errors, the envelope's problems,
// when the search failed after rows were sent).
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
