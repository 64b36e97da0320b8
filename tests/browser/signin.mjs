// Signs people into nano's web UI through a real OpenID provider (Ory
// Hydra with the harness's login app) in Debian's Chromium, and checks
// what each role may do. tests/signin_test.go starts Hydra, the services
// and the origin, seeds a rule and an open alert, and runs this script;
// it reads:
//   NANO_UI_URL    the origin that routes /, /api/ and /search/
//   NANO_UI_USERS  JSON: {"viewer": {"username","password","email"}, "analyst": ..., "admin": ...}
//   NANO_UI_RULE   the seeded rule's name
//   NANO_UI_SHOTS  where to keep a screenshot of each page
//   NANO_UI_STEPS  comma-separated steps to run (default: all)
// It prints one JSON line of what it saw (the signed-out session's cookie
// value, for the test to try again) and exits 1, with a screenshot, at the
// first thing that is not as expected.
import { chromium } from 'playwright-core'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const base = process.env.NANO_UI_URL
const users = JSON.parse(process.env.NANO_UI_USERS || '{}')
const ruleName = process.env.NANO_UI_RULE || ''
const shots = process.env.NANO_UI_SHOTS || '.'
const only = (process.env.NANO_UI_STEPS || '').split(',').filter(Boolean)
mkdirSync(shots, { recursive: true })

const timeout = 20_000
const made = {}
const log = (...a) => console.error('signin:', ...a)
const cookieName = '__Host-nano_session'

function check(ok, what) {
  if (!ok) throw new Error(what)
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

// signIn goes through the provider's real flow: nano's sign-in page, the
// provider, the login app's form, and back with a session. It waits for
// the person's email only: each step checks what the role may do first and
// the role's name last (roleShown), so a role mapped wrongly fails on what
// it is offered, not on its label.
async function signIn(page, who) {
  const u = users[who]
  await page.goto(base + '/')
  await page.getByTestId('sso').click()
  await page.getByLabel('Username').fill(u.username)
  await page.getByLabel('Password').fill(u.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByTestId('who').filter({ hasText: u.email }).waitFor({ timeout })
  check(page.url().startsWith(base) && !/[?&](code|state)=/.test(page.url()), `the address after sign-in carries the code or state: ${page.url()}`)
  // No credential where a script or a URL could read it.
  const stored = await page.evaluate(() => ({ cookie: document.cookie, session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage) }))
  check(!/nanosess_/.test(stored.cookie + stored.session + stored.local), 'the session secret is readable by the page')
  const cookies = await page.context().cookies(base)
  const c = cookies.find((x) => x.name === cookieName)
  check(c && c.httpOnly && c.secure && c.sameSite === 'Strict' && c.path === '/' && !c.domain.startsWith('.'),
    `the session cookie's attributes: ${JSON.stringify(c)}`)
  return c.value
}

// apiCall calls the api from the page, as the UI does (cookie and CSRF
// token), and answers the status.
async function apiCall(page, method, path, body) {
  return page.evaluate(async ([method, path, body]) => {
    const me = await (await fetch('/api/v1/session')).json()
    const resp = await fetch(path, { method, headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf_token }, body: JSON.stringify(body) })
    return resp.status
  }, [method, path, body])
}

// roleShown checks the role the UI says the person has.
async function roleShown(page, who) {
  const text = await page.getByTestId('who').textContent()
  check(text === `${users[who].email} · ${who}`, `the UI says ${JSON.stringify(text)}, want ${users[who].email} · ${who}`)
}

async function signOut(page) {
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByTestId('sso').waitFor({ timeout })
}

const steps = {
  // A viewer sees the rules but no way to change them, and the api
  // refuses the change when called directly; sign-out ends the session
  // (its cookie value is kept for the test to try).
  async viewer(page) {
    made.viewerCookie = await signIn(page, 'viewer')
    await page.getByRole('link', { name: 'Rules' }).click()
    await page.getByTestId('rules').locator('tr', { hasText: ruleName }).waitFor({ timeout })
    check(await page.getByRole('button', { name: 'New rule' }).count() === 0, 'the viewer is offered New rule')
    check(await page.getByRole('button', { name: 'Edit' }).count() === 0, 'the viewer is offered Edit')
    check(await page.getByRole('link', { name: 'Audit' }).count() === 0, 'the viewer is offered the audit page')
    await shot(page, 'signin-01-viewer-rules')
    const status = await apiCall(page, 'POST', '/api/v1/rules', { name: 'viewer rule', query: 'level:error', schedule: '@every 5m', window_seconds: 300, threshold_op: '>', threshold: 1 })
    check(status === 403, `the viewer's direct POST /api/v1/rules answered ${status}, want 403`)
    await page.getByRole('link', { name: 'Alerts' }).click()
    await page.getByTestId('alerts').locator('tr', { hasText: ruleName }).waitFor({ timeout })
    check(await page.getByRole('button', { name: 'Acknowledge' }).count() === 0, 'the viewer is offered Acknowledge')
    await roleShown(page, 'viewer')
    await signOut(page)
    await shot(page, 'signin-02-signed-out')
  },

  // An analyst acknowledges the open alert.
  async analyst(page) {
    made.analystCookie = await signIn(page, 'analyst')
    await page.getByRole('link', { name: 'Alerts' }).click()
    const row = page.getByTestId('alerts').locator('tr', { hasText: ruleName })
    await row.waitFor({ timeout })
    check(await page.getByRole('link', { name: 'Audit' }).count() === 0, 'the analyst is offered the audit page')
    await shot(page, 'signin-03-analyst-alerts')
    await row.getByRole('button', { name: 'Acknowledge' }).click()
    await page.getByText('No open alerts.').waitFor({ timeout })
    await roleShown(page, 'analyst')
    await signOut(page)
  },

  // An admin changes the rule's threshold; the audit page shows that and
  // the analyst's acknowledgement with their users, and the viewer's
  // refusal.
  async admin(page) {
    await signIn(page, 'admin')
    await page.getByRole('link', { name: 'Rules' }).click()
    const row = page.getByTestId('rules').locator('tr', { hasText: ruleName })
    await row.getByRole('button', { name: 'Edit' }).click()
    await page.getByTestId('rule-form').locator('input[name=threshold]').fill('7')
    await page.getByTestId('rule-form').getByRole('button', { name: 'Save rule' }).click()
    await page.getByTestId('rules').locator('tr', { hasText: ruleName }).filter({ hasText: 'count > 7' }).waitFor({ timeout })
    await page.getByRole('link', { name: 'Audit' }).click()
    const audit = page.getByTestId('audit')
    await audit.locator('tr', { hasText: 'rule.update' }).filter({ hasText: users.admin.email }).filter({ hasText: '7' }).waitFor({ timeout })
    await audit.locator('tr', { hasText: 'alert.update' }).filter({ hasText: users.analyst.email }).filter({ hasText: 'acknowledged' }).waitFor({ timeout })
    await audit.locator('tr', { hasText: 'rule.create' }).filter({ hasText: users.viewer.email }).filter({ hasText: 'denied' }).waitFor({ timeout })
    await audit.locator('tr', { hasText: 'signin' }).filter({ hasText: users.viewer.email }).first().waitFor({ timeout })
    await shot(page, 'signin-04-audit')
    // Filtered to the analyst.
    await page.getByLabel('Actor').fill(users.analyst.email)
    await page.getByRole('button', { name: 'Filter' }).click()
    await audit.locator('tr', { hasText: users.admin.email }).first().waitFor({ state: 'detached', timeout })
    check(await audit.locator('tr', { hasText: 'alert.update' }).count() === 1, 'the analyst filter does not show the acknowledgement')
    await shot(page, 'signin-05-audit-filtered')
    await roleShown(page, 'admin')
    await signOut(page)
  },
}

const browser = await chromium.launch({
  executablePath: process.env.NANO_CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
})
const problems = []
let failed = false
for (const [name, run] of Object.entries(steps)) {
  if (only.length && !only.includes(name)) continue
  // Each person in a browser of their own.
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`) })
  const t0 = Date.now()
  try {
    await run(page)
    check(problems.length === 0, problems.join('; '))
    log(`${name} ok (${Date.now() - t0} ms)`)
  } catch (e) {
    log(`${name} FAILED: ${e.message}`)
    await shot(page, `signin-failed-${name}`).catch(() => {})
    failed = true
  }
  await context.close()
  if (failed) break
}
await browser.close()
console.log(JSON.stringify(made))
process.exit(failed ? 1 : 0)
