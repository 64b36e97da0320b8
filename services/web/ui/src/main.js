// nano's analyst UI: sign in with an API token, then search, alerts and
// their silences, detection rules, feeds and saved searches. Pages are addressed by the
// fragment (#/search?q=...), so the web service serves one file for all.
import { html, render } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { checkToken, session } from './api.js'
import { AlertsPage } from './alerts.js'
import { FeedsPage } from './feeds.js'
import { RulesPage } from './rules.js'
import { SavedPage } from './saved.js'
import { SearchPage } from './search.js'
import { SilencesPage } from './silences.js'
import './style.css'

const pages = [
  ['search', 'Search', SearchPage],
  ['alerts', 'Alerts', AlertsPage],
  ['silences', 'Silences', SilencesPage],
  ['rules', 'Rules', RulesPage],
  ['feeds', 'Feeds', FeedsPage],
  ['saved', 'Saved searches', SavedPage],
]

function route() {
  const [path, query] = window.location.hash.replace(/^#\/?/, '').split('?')
  return { name: pages.some(([n]) => n === path) ? path : 'search', params: new URLSearchParams(query || ''), key: window.location.hash }
}

function SignIn({ onSignedIn }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  async function submit(e) {
    e.preventDefault()
    setBusy(true)
    try {
      const t = token.trim()
      await checkToken(t)
      session.signIn(t)
      onSignedIn()
    } catch (err) {
      setError(err.message)
    } finally {
      setBusy(false)
    }
  }
  return html`<main class="signin">
    <form onSubmit=${submit}>
      <h1>nano</h1>
      <label>API token <input type="password" name="token" autocomplete="off" placeholder="nano_…" value=${token}
        onInput=${(e) => setToken(e.target.value)} required /></label>
      <p class="hint">Issued by an admin (POST /api/v1/tokens, or <code>api token create</code>). It is kept in this tab only.</p>
      ${error && html`<div class="error" role="alert">${error}</div>`}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`
}

function App() {
  const [signedIn, setSignedIn] = useState(!!session.token())
  const [where, setWhere] = useState(route())
  useEffect(() => {
    const onHash = () => setWhere(route())
    const onOut = () => setSignedIn(false)
    window.addEventListener('hashchange', onHash)
    window.addEventListener('nano-signed-out', onOut)
    return () => {
      window.removeEventListener('hashchange', onHash)
      window.removeEventListener('nano-signed-out', onOut)
    }
  }, [])
  // navigate changes the address; replace keeps the page (the search page
  // records its own query without running it again).
  const navigate = (hash, replace) => {
    if (replace) {
      window.history.replaceState(null, '', hash)
      return
    }
    window.location.hash = hash
  }
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`
  const [, , Page] = pages.find(([n]) => n === where.name)
  return html`<div class="shell">
    <nav>
      <span class="brand">nano</span>
      ${pages.map(([n, label]) => html`<a href=${`#/${n}`} class=${n === where.name ? 'current' : ''}>${label}</a>`)}
      <button class="signout" onClick=${() => { session.signOut(); setSignedIn(false) }}>Sign out</button>
    </nav>
    <main><${Page} key=${where.key} params=${where.params} navigate=${navigate} /></main>
  </div>`
}

render(html`<${App} />`, document.getElementById('app'))
