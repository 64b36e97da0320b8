// nano's analyst UI: sign in through the identity provider or with an API
// token, then search, alerts and their silences, detection rules, feeds,
// saved searches and (admins) the audit trail. Pages are addressed by the
// fragment (#/search?q=...), so the web service serves one file for all. A
// page or action the signed-in role cannot use is not shown (the api
// refuses it anyway).
import { html, render } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { can, loadMe, signOut } from './api.js'
import { AlertsPage } from './alerts.js'
import { AuditPage } from './audit.js'
import { FeedsPage } from './feeds.js'
import { RulesPage } from './rules.js'
import { SavedPage } from './saved.js'
import { SearchPage } from './search.js'
import { SignIn } from './signin.js'
import { SilencesPage } from './silences.js'
import './style.css'

// pages: name, label, component and the scope that shows it.
const pages = [
  ['search', 'Search', SearchPage, 'search'],
  ['alerts', 'Alerts', AlertsPage, 'read'],
  ['silences', 'Silences', SilencesPage, 'read'],
  ['rules', 'Rules', RulesPage, 'read'],
  ['feeds', 'Feeds', FeedsPage, 'read'],
  ['saved', 'Saved searches', SavedPage, 'search'],
  ['audit', 'Audit', AuditPage, 'admin'],
]

function route() {
  const [path, query] = window.location.hash.replace(/^#\/?/, '').split('?')
  const visible = pages.filter(([, , , scope]) => can(scope))
  const name = visible.some(([n]) => n === path) ? path : (visible[0] || pages[0])[0]
  return { name, path, params: new URLSearchParams(query || ''), key: window.location.hash }
}

function App() {
  // undefined: asking the api; null: nobody signed in.
  const [me, setMe] = useState(undefined)
  const [where, setWhere] = useState(route())
  const refresh = async () => {
    try {
      setMe(await loadMe())
    } catch {
      setMe(null)
    }
    setWhere(route())
  }
  useEffect(() => {
    refresh()
    const onHash = () => setWhere(route())
    const onOut = () => setMe(null)
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
  if (me === undefined) return html`<main class="signin"><p>…</p></main>`
  if (!me) return html`<${SignIn} params=${where.path === 'signin' ? where.params : new URLSearchParams()} onSignedIn=${refresh} />`
  const [, , Page] = pages.find(([n]) => n === where.name)
  const who = me.kind === 'user' ? `${me.email} · ${me.role}` : `token ${me.token_name} · ${me.scopes.join(', ')}`
  return html`<div class="shell">
    <nav>
      <span class="brand">nano</span>
      ${pages.filter(([, , , scope]) => can(scope)).map(([n, label]) => html`<a href=${`#/${n}`} class=${n === where.name ? 'current' : ''}>${label}</a>`)}
      <span class="who" data-testid="who" title=${`tenant ${me.tenant}`}>${who}</span>
      <button class="signout" onClick=${async () => { await signOut(); window.history.replaceState(null, '', '#/'); setMe(null) }}>Sign out</button>
    </nav>
    <main><${Page} key=${where.key} params=${where.params} navigate=${navigate} /></main>
  </div>`
}

render(html`<${App} />`, document.getElementById('app'))
