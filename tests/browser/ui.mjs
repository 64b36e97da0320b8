// Drives nano's web UI in Debian's Chromium (headless, through
// playwright-core) as an analyst would, against real web, api and search
// services. tests/webui_test.go starts them, seeds the events and runs
// this script; it reads:
//   NANO_UI_URL     the origin that routes /, /api/ and /search/
//   NANO_UI_TOKEN   an API token with every scope
//   NANO_UI_SEEDED  JSON: what the test seeded (counts the pages must show)
//   NANO_UI_SHOTS   where to keep a screenshot of each page
//   NANO_UI_STEPS   comma-separated steps to run (default: all)
// It prints one JSON line of what it made (for the test to check in
// PostgreSQL) and exits 1, with a screenshot of the page, at the first
// thing that is not as expected.
import { chromium } from 'playwright-core'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const base = process.env.NANO_UI_URL
const token = process.env.NANO_UI_TOKEN
const seeded = JSON.parse(process.env.NANO_UI_SEEDED || '{}')
const shots = process.env.NANO_UI_SHOTS || '.'
const only = (process.env.NANO_UI_STEPS || '').split(',').filter(Boolean)
mkdirSync(shots, { recursive: true })

const timeout = 20_000
const made = {}
const log = (...a) => console.error('ui:', ...a)

function check(ok, what) {
  if (!ok) throw new Error(what)
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

// search types a query and range into the search page and runs it.
async function search(page, query, from = seeded.from || '-24h') {
  await page.goto(`${base}/#/search`)
  await page.getByLabel('Query').fill(query)
  await page.locator('input[name=from]').fill(from)
  await page.getByRole('button', { name: 'Search', exact: true }).click()
}

const steps = {
  async signin(page) {
    await page.goto(base + '/')
    await page.getByLabel('API token').fill('nano_not_a_token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor({ timeout })
    await shot(page, '01-signin-refused')
    await page.getByLabel('API token').fill(token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByRole('link', { name: 'Alerts' }).waitFor({ timeout })
    check(!page.url().includes(token), 'the token is in the address')
    const stored = await page.evaluate(() => ({ session: sessionStorage.getItem('nano.token'), local: JSON.stringify(localStorage) }))
    check(stored.session === token && !stored.local.includes(token), 'the token is not kept in the session (only)')
  },

  async search(page) {
    await search(page, seeded.query)
    const results = page.getByTestId('results')
    await results.locator('tbody tr').first().waitFor({ timeout })
    await page.getByTestId('histogram').locator('canvas').waitFor({ timeout })
    const total = await page.getByTestId('histogram-total').textContent()
    check(total === `${seeded.matching} events`, `histogram total "${total}", want ${seeded.matching} events`)
    await page.getByTestId('result-count').filter({ hasText: /^50 rows$/ }).waitFor({ timeout })
    const first = await results.locator('tbody tr').first().textContent()
    check(first.includes(seeded.newestMessage), `first row "${first}" is not the newest event (${seeded.newestMessage})`)
    await shot(page, '02-search')

    // Page 2 continues after page 1; Previous comes back.
    await page.getByRole('button', { name: 'Next page' }).click()
    await page.getByText('page 2').waitFor({ timeout })
    const second = await results.locator('tbody tr').first().textContent()
    check(second !== first && second.includes(seeded.page2Message), `page 2 starts with "${second}", want ${seeded.page2Message}`)
    await shot(page, '03-search-page-2')
    await page.getByRole('button', { name: 'Previous' }).click()
    await page.getByText('page 1').waitFor({ timeout })
    check((await results.locator('tbody tr').first().textContent()) === first, 'Previous did not come back to page 1')

    // An event's attributes.
    await results.locator('tbody tr').first().click()
    const detail = page.getByTestId('event-detail')
    await detail.waitFor({ timeout })
    for (const [k, v] of Object.entries(seeded.newestAttributes)) {
      await detail.locator('tr', { hasText: k }).filter({ hasText: v }).waitFor({ timeout })
    }
    await shot(page, '04-event')
    await detail.getByRole('button', { name: 'Close' }).click()
  },

  async badquery(page) {
    await search(page, 'level:error AND')
    const err = page.getByTestId('query-error')
    await err.waitFor({ timeout })
    const caret = await err.locator('pre').textContent()
    check(caret === 'level:error AND\n' + ' '.repeat(15) + '^', `caret block ${JSON.stringify(caret)}`)
    check((await err.textContent()).includes('column 16'), 'the error does not name column 16')
    await shot(page, '05-bad-query')
  },

  async stats(page) {
    await search(page, '| stats count() by service')
    await page.getByTestId('stats-chart').locator('canvas').waitFor({ timeout })
    const rows = page.getByTestId('results').locator('tbody tr')
    await rows.first().waitFor({ timeout })
    check((await rows.count()) === seeded.services, `stats rows ${await rows.count()}, want ${seeded.services}`)
    await shot(page, '06-stats')
  },

  async saved(page) {
    await search(page, seeded.query)
    await page.getByTestId('results').locator('tbody tr').first().waitFor({ timeout })
    await page.getByLabel('Saved search name').fill('checkout in range')
    await page.getByRole('button', { name: 'Save search' }).click()
    await page.getByTestId('saved').filter({ hasText: 'Saved as' }).waitFor({ timeout })
    await page.getByRole('link', { name: 'Saved searches' }).click()
    await page.getByTestId('saved-searches').getByRole('link', { name: 'checkout in range' }).waitFor({ timeout })
    await page.getByTestId('history').locator('tr', { hasText: 'level:error AND' }).filter({ hasText: 'invalid' }).first().waitFor({ timeout })
    await shot(page, '07-saved-and-history')
    await page.getByTestId('saved-searches').getByRole('link', { name: 'checkout in range' }).click()
    await page.getByTestId('histogram-total').filter({ hasText: `${seeded.matching} events` }).waitFor({ timeout })
    check((await page.getByLabel('Query').inputValue()) === seeded.query, 'the saved search did not reopen its query')
    // A search from the history reopens too, with its range.
    await page.getByRole('link', { name: 'Saved searches' }).click()
    await page.getByTestId('history').getByRole('link', { name: '| stats count() by service' }).first().click()
    await page.getByTestId('stats-chart').locator('canvas').waitFor({ timeout })
    check((await page.getByLabel('Query').inputValue()) === '| stats count() by service', 'the history did not reopen its query')
  },

  async rules(page) {
    await page.getByRole('link', { name: 'Rules' }).click()
    await page.getByRole('button', { name: 'New rule' }).click()
    const form = page.getByTestId('rule-form')
    // A query that does not parse is refused with its column.
    await form.locator('input[name=name]').fill('checkout errors')
    await form.locator('textarea[name=query]').fill('level:error AND')
    await form.getByRole('button', { name: 'Save rule' }).click()
    await form.getByTestId('query-error').waitFor({ timeout })
    await form.locator('textarea[name=query]').fill(seeded.ruleQuery)
    await form.locator('input[name=schedule]').fill('@every 1m')
    await form.locator('input[name=window_seconds]').fill(String(seeded.ruleWindow))
    await form.locator('input[name=threshold]').fill('5')
    await form.getByRole('button', { name: 'Test now' }).click()
    await form.getByTestId('rule-test').filter({ hasText: `${seeded.ruleMatches} in the last ${seeded.ruleWindow}s: would raise an alert` }).waitFor({ timeout })
    await shot(page, '08-rule-test')
    // The verdict is the api's (the scheduler's evaluation): a query that
    // ends in fields counts its events, as a run does (the UI's former
    // JavaScript detector appended | stats count() and failed to parse
    // it), and stats by a numeric attribute answer per group.
    const verdict = async (query, text) => {
      await form.locator('textarea[name=query]').fill(query)
      await form.getByRole('button', { name: 'Test now' }).click()
      await form.getByTestId('rule-test').filter({ hasText: query }).filter({ hasText: text }).waitFor({ timeout })
      check(await form.getByTestId('query-error').count() === 0, `the test of ${query} shows a query error`)
    }
    await verdict(`${seeded.ruleQuery} | fields ts`, `${seeded.ruleMatches} in the last ${seeded.ruleWindow}s: would raise an alert`)
    await shot(page, '08-rule-test-fields')
    await verdict(`${seeded.ruleQuery} | stats count() by http.status`, `http.status=500: ${seeded.ruleMatches} in the last ${seeded.ruleWindow}s: would raise an alert`)
    await form.locator('textarea[name=query]').fill(seeded.ruleQuery)
    await form.getByRole('button', { name: 'Save rule' }).click()
    const row = page.getByTestId('rules').locator('tr', { hasText: 'checkout errors' })
    await row.waitFor({ timeout })
    check((await row.getByTestId('next-run').textContent()).trim() !== '', 'the rule shows no next run')
    // Edit: the threshold changes and the list says so.
    await row.getByRole('button', { name: 'Edit' }).click()
    await page.getByTestId('rule-form').locator('input[name=threshold]').fill('3')
    await page.getByTestId('rule-form').getByRole('button', { name: 'Save rule' }).click()
    await page.getByTestId('rules').locator('tr', { hasText: 'checkout errors' }).filter({ hasText: 'count > 3' }).waitFor({ timeout })
    await shot(page, '09-rules')
  },

  // Where the rule's alert went: the page says alerts go to Alertmanager
  // and its receiver, the alert's notification was sent there; the analyst
  // silences it from its row, and the alert shows it silenced.
  async silence(page) {
    await page.getByRole('link', { name: 'Alerts' }).click()
    await page.getByLabel('Status').selectOption('')
    const row = page.getByTestId('alerts').locator('tr', { hasText: 'checkout errors' }).first()
    const cell = row.getByTestId('delivery')
    let text = ''
    for (let i = 0; ; i++) {
      text = (await row.count()) > 0 ? (await cell.textContent()).trim() : '(no alert yet)'
      if (text.includes(`sent to ${seeded.receiver}`)) break
      check(!text.includes('no Alertmanager'), `the alert's notification says "${text}"`)
      check(i < 60, `the alert's notification says "${text}", not "sent to ${seeded.receiver}", after 60 s`)
      await page.waitForTimeout(1000)
      await page.getByRole('button', { name: 'Refresh' }).click()
    }
    const banner = (await page.getByTestId('delivery-banner').textContent()).trim()
    check(banner.includes(`routes them to: ${seeded.receiver}`), `the delivery banner says "${banner}"`)
    await shot(page, '10-alerts-delivered')
    // Alertmanager notifies after its group wait: the silence comes after
    // the receiver got the notification, or it would rightly suppress it.
    for (let i = 0; seeded.delivered; i++) {
      const got = Number(await (await fetch(seeded.delivered)).text())
      if (got >= 1) break
      check(i < 60, `the receiver got no notification of the alert in 60 s`)
      await page.waitForTimeout(1000)
    }
    await row.getByRole('link', { name: 'Silence…' }).click()
    const form = page.getByTestId('silence-form')
    await form.waitFor({ timeout })
    const matchers = await form.locator('textarea[name=matchers]').inputValue()
    check(matchers.includes('alertname=checkout errors'), `the silence is not prefilled from the alert: ${JSON.stringify(matchers)}`)
    await form.locator('select[name=duration]').selectOption('2h')
    await form.locator('input[name=comment]').fill('known checkout incident')
    await form.getByRole('button', { name: 'Create silence' }).click()
    const created = page.getByTestId('silence-created')
    await created.waitFor({ timeout })
    made.silence = (await created.textContent()).match(/Silence (\S+) is active/)?.[1]
    check(!!made.silence, `no active silence: ${await created.textContent()}`)
    const listed = page.getByTestId('silences').locator('tr', { hasText: 'alertname=checkout errors' })
    await listed.filter({ hasText: 'tenant=acme' }).filter({ hasText: 'active' }).waitFor({ timeout })
    await shot(page, '11-silence-created')
    // The alert is silenced in Alertmanager now.
    await page.getByRole('link', { name: 'Alerts' }).click()
    await page.getByLabel('Status').selectOption('')
    for (let i = 0; ; i++) {
      text = (await cell.textContent()).trim()
      if (text.includes(`silenced (${made.silence})`)) break
      check(i < 30, `the silenced alert's notification says "${text}"`)
      await page.waitForTimeout(1000)
      await page.getByRole('button', { name: 'Refresh' }).click()
    }
    await shot(page, '12-alerts-silenced')
    await page.getByLabel('Status').selectOption('open')
  },

  async alerts(page) {
    // The api's scheduler runs the rule within seconds and raises an alert.
    await page.getByRole('link', { name: 'Alerts' }).click()
    const row = page.getByTestId('alerts').locator('tr', { hasText: 'checkout errors' })
    for (let i = 0; ; i++) {
      if (await row.count() > 0) break
      check(i < 60, 'no alert of the rule appeared in 60 s')
      await page.waitForTimeout(1000)
      await page.getByRole('button', { name: 'Refresh' }).click()
    }
    check((await row.first().textContent()).includes(String(seeded.ruleMatches)), 'the alert does not show the count')
    await shot(page, '10b-alerts-open')
    await row.first().getByRole('button', { name: 'Acknowledge' }).click()
    await page.getByText('No open alerts.').waitFor({ timeout })
    await page.getByLabel('Status').selectOption('acknowledged')
    await page.getByTestId('alerts').locator('tr', { hasText: 'checkout errors' }).filter({ hasText: 'acknowledged' }).waitFor({ timeout })
    await shot(page, '13-alerts-acknowledged')
    made.acknowledged = true
  },

  async feeds(page) {
    await page.getByRole('link', { name: 'Feeds' }).click()
    await page.getByLabel('Feed name').fill('firewall')
    await page.getByLabel('Kind').selectOption('hec')
    await page.getByRole('button', { name: 'Create feed' }).click()
    const row = page.getByTestId('feeds').locator('tr', { hasText: 'firewall' })
    await row.filter({ hasText: 'hec' }).waitFor({ timeout })
    await row.getByRole('button', { name: 'New ingest token' }).click()
    const issued = page.getByTestId('issued-token')
    await issued.waitFor({ timeout })
    made.ingestToken = (await issued.locator('code').textContent()).trim()
    check(made.ingestToken.length > 20, 'no ingest token shown')
    await shot(page, '14-feed-token')
    // Shown once: gone when dismissed, and not on the page after a reload.
    await issued.getByRole('button', { name: 'Done' }).click()
    await page.reload()
    await page.getByTestId('feeds').waitFor({ timeout })
    check(!(await page.content()).includes(made.ingestToken), 'the ingest token is still on the page')
    // A syslog feed's token comes with rsyslog's and syslog-ng's
    // configuration, the token and this host filled in.
    await page.getByLabel('Feed name').fill('routers')
    await page.getByLabel('Kind').selectOption('syslog')
    await page.getByRole('button', { name: 'Create feed' }).click()
    const routers = page.getByTestId('feeds').locator('tr', { hasText: 'routers' })
    await routers.filter({ hasText: 'syslog' }).waitFor({ timeout })
    await routers.getByRole('button', { name: 'New ingest token' }).click()
    const setup = page.getByTestId('syslog-setup')
    await setup.waitFor({ timeout })
    const syslogToken = (await page.getByTestId('issued-token').locator('code').textContent()).trim()
    const rsyslog = await setup.getByTestId('rsyslog-config').textContent()
    const syslogng = await setup.getByTestId('syslog-ng-config').textContent()
    const syslogHost = new URL(page.url()).hostname
    check(rsyslog.includes(`token=\\"${syslogToken}\\"`) && rsyslog.includes(`target="${syslogHost}" port="6514"`) && rsyslog.includes('StreamDriverMode="1"'),
      `rsyslog's configuration lacks the token, host or TLS: ${rsyslog}`)
    check(syslogng.includes(`set("${syslogToken}", value(".SDATA.nano@32473.token"))`) && syslogng.includes(`syslog("${syslogHost}" port(6514) transport("tls")`),
      `syslog-ng's configuration lacks the token, host or TLS: ${syslogng}`)
    await shot(page, '13b-syslog-feed')
    await page.getByTestId('issued-token').getByRole('button', { name: 'Done' }).click()
    // An otlp feed's token comes with an OpenTelemetry Collector's
    // exporters, the token and this host filled in.
    await page.getByLabel('Feed name').fill('otel-apps')
    await page.getByLabel('Kind').selectOption('otlp')
    await page.getByRole('button', { name: 'Create feed' }).click()
    const otel = page.getByTestId('feeds').locator('tr', { hasText: 'otel-apps' })
    await otel.filter({ hasText: 'otlp' }).waitFor({ timeout })
    await otel.getByRole('button', { name: 'New ingest token' }).click()
    const snippet = page.getByTestId('otlp-snippet')
    await snippet.waitFor({ timeout })
    const otlpToken = (await page.getByTestId('issued-token').locator('code').first().textContent()).trim()
    const text = await snippet.textContent()
    const host = new URL(page.url()).hostname
    check(text.includes(`Bearer ${otlpToken}`) && text.includes(`endpoint: https://${host}:8080`) && text.includes(`endpoint: ${host}:4317`),
      `the collector snippet lacks the token or the endpoints: ${text}`)
    await shot(page, '13-otlp-feed-snippet')
    made.otlpToken = otlpToken
  },
}

const browser = await chromium.launch({
  executablePath: process.env.NANO_CHROMIUM || '/usr/bin/chromium',
  // This machine's network is closed: no background connections.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
})
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } })
const problems = []
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`) })
let failed = false
for (const [name, run] of Object.entries(steps)) {
  if (only.length && !only.includes(name)) continue
  const t0 = Date.now()
  try {
    await run(page)
    check(problems.length === 0, problems.join('; '))
    log(`${name} ok (${Date.now() - t0} ms)`)
  } catch (e) {
    log(`${name} FAILED: ${e.message}`)
    await shot(page, `failed-${name}`).catch(() => {})
    failed = true
    break
  }
}
await browser.close()
console.log(JSON.stringify(made))
process.exit(failed ? 1 : 0)
