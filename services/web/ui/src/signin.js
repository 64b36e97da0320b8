// The sign-in page: through the deployment's identity provider when single
// sign-on is configured (the api runs the flow and sets an HttpOnly
// session cookie; nothing of it passes through this code), and with an API
// token as before.
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { authConfig, checkToken, session } from './api.js'

// Why the api refused a sign-in (the reason it puts in #/signin?error=).
const reasons = {
  no_role: 'Your account has no role in nano: ask an administrator to add you to a group nano maps to a role.',
  disabled: 'Your nano user is disabled: ask an administrator.',
  email_taken: 'Another nano user has your email address and your identity provider does not vouch for it.',
  provider: 'The identity provider refused or failed the sign-in.',
  state: 'That sign-in link was already used or has expired: sign in again.',
  browser: 'The sign-in was started in another browser or tab: sign in again.',
  expired: 'The sign-in took too long: sign in again.',
}

export function SignIn({ params, onSignedIn }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  const [sso, setSSO] = useState(null)
  useEffect(() => { authConfig().then(setSSO).catch(() => setSSO({ oidc: false })) }, [])
  const refused = params.get('error')
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
      ${refused && html`<div class="error" role="alert" data-testid="signin-refused">${reasons[refused] || 'The sign-in failed.'}</div>`}
      ${sso?.oidc && html`<a class="button primary" href=${sso.login_url} data-testid="sso">Sign in with ${sso.provider}</a>
        <p class="hint or">or with an API token</p>`}
      <label>API token <input type="password" name="token" autocomplete="off" placeholder="nano_…" value=${token}
        onInput=${(e) => setToken(e.target.value)} required /></label>
      <p class="hint">Issued by an admin (POST /api/v1/tokens, or <code>api token create</code>). It is kept in this tab only.</p>
      ${error && html`<div class="error" role="alert">${error}</div>`}
      <button type="submit" disabled=${busy}>Sign in</button>
    </form>
  </main>`
}
