// The feeds page: the tenant's feeds and their ingest tokens (a token is
// shown once, when it is issued, with how to send with it: for an otlp feed,
// an OpenTelemetry Collector's exporters with the values filled in).
import { html } from 'htm/preact'
import { useEffect, useState } from 'preact/hooks'
import { all, call, can } from './api.js'
import { Failure, when } from './widgets.js'

export function FeedsPage() {
  const [feeds, setFeeds] = useState(null)
  const [name, setName] = useState('')
  const [kind, setKind] = useState('http')
  const [issued, setIssued] = useState(null)
  const [error, setError] = useState(null)

  async function load() {
    try {
      setFeeds(await all('/api/v1/feeds'))
    } catch (e) {
      setError(e)
    }
  }
  useEffect(() => { load() }, [])

  async function create(e) {
    e.preventDefault()
    try {
      await call('POST', '/api/v1/feeds', { name, kind })
      setName('')
      setError(null)
      await load()
    } catch (err) {
      setError(err)
    }
  }
  async function issue(f) {
    try {
      const t = await call('POST', `/api/v1/feeds/${f.id}/ingest-tokens`)
      setIssued({ feed: f.name, kind: f.kind, token: t.token })
      setError(null)
    } catch (err) {
      setError(err)
    }
  }
  async function remove(f) {
    if (!window.confirm(`Delete the feed ${f.name} and its ingest tokens?`)) return
    try {
      await call('DELETE', `/api/v1/feeds/${f.id}`)
      await load()
    } catch (err) {
      setError(err)
    }
  }

  return html`<section>
    <header class="page-head"><h2>Feeds</h2></header>
    <${Failure} error=${error} />
    ${issued && html`<div class="once" role="status" data-testid="issued-token">
      <p>Ingest token for <b>${issued.feed}</b>. Copy it now: it is not shown again.</p>
      <code>${issued.token}</code> <button onClick=${() => setIssued(null)}>Done</button>
      ${issued.kind === 'otlp' && html`<p>An OpenTelemetry Collector sends to this feed with (OTLP/HTTP or OTLP/gRPC; the
        host is this deployment's ingest address, the stack outputs <code>ingestHttpUrl</code> and <code>ingestOtlpAddress</code>):</p>
      <pre data-testid="otlp-snippet">${collectorSnippet(window.location.hostname, issued.token)}</pre>`}
      ${issued.kind === 'syslog' && html`<${SyslogSetup} host=${window.location.hostname} token=${issued.token} />`}
    </div>`}
    ${can('admin') && html`<form class="inline" onSubmit=${create}>
      <input aria-label="Feed name" placeholder="Feed name" value=${name} onInput=${(e) => setName(e.target.value)} required maxlength="200" />
      <select aria-label="Kind" value=${kind} onChange=${(e) => setKind(e.target.value)}>
        <option value="http">HTTP (bearer)</option><option value="hec">Splunk HEC</option><option value="vector">Vector</option><option value="syslog">Syslog (TLS)</option><option value="otlp">OpenTelemetry (OTLP)</option>
      </select>
      <button type="submit">Create feed</button>
    </form>`}
    ${feeds && (feeds.length === 0 ? html`<p class="empty">No feeds yet.</p>` : html`<table class="rows" data-testid="feeds">
      <thead><tr><th>Name</th><th>Kind</th><th>Created</th><th></th></tr></thead>
      <tbody>${feeds.map((f) => html`<tr><td>${f.name}</td><td>${f.kind}</td><td>${when(f.created_at)}</td>
        <td>${can('admin') && html`<button onClick=${() => issue(f)}>New ingest token</button> <button onClick=${() => remove(f)}>Delete</button>`}</td></tr>`)}</tbody>
    </table>`)}
  </section>`
}

// collectorSnippet is an OpenTelemetry Collector's exporters for a feed's
// token on host (docs/reference/otlp.md).
export function collectorSnippet(host, token) {
  return `exporters:
  otlphttp/nano:          # otlp_http from Collector v0.148 on
    endpoint: https://${host}:8080
    headers: {Authorization: "Bearer ${token}"}
    compression: gzip
    retry_on_failure: {enabled: true, max_elapsed_time: 0}
  otlp/nano:              # otlp_grpc from Collector v0.148 on
    endpoint: ${host}:4317
    headers: {authorization: "Bearer ${token}"}
    retry_on_failure: {enabled: true, max_elapsed_time: 0}
service:
  pipelines:
    logs:
      receivers: [filelog]
      exporters: [otlphttp/nano]
`
}

// syslogPort is ingest's syslog-over-TLS port (services/contract).
export const syslogPort = 6514

// syslogConfigs are rsyslog's and syslog-ng's configuration for sending to
// ingest's syslog TLS port with a syslog feed's token in each message's
// structured data (docs/reference/syslog.md). The CA file is the deployment's
// (the Pulumi output nativeCaCert).
export function syslogConfigs(host, token) {
  const sd = `[nano@32473 token=\\"${token}\\"]`
  const rsyslog = `# /etc/rsyslog.d/50-nano.conf (apt install rsyslog-gnutls)
global(DefaultNetstreamDriverCAFile="/etc/ssl/nano-ca.pem")
template(name="nano" type="string"
  string="<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %MSGID% ${sd} %msg:2:$%")
action(type="omfwd" target="${host}" port="${syslogPort}" protocol="tcp"
  TCP_Framing="octet-counted" template="nano"
  StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/certvalid"
  queue.type="LinkedList" queue.filename="nano" queue.saveOnShutdown="on"
  action.resumeRetryCount="-1")`
  const syslogng = `# /etc/syslog-ng/conf.d/nano.conf
rewrite r_nano { set("${token}", value(".SDATA.nano@32473.token")); };
destination d_nano {
  syslog("${host}" port(${syslogPort}) transport("tls")
    tls(ca-file("/etc/ssl/nano-ca.pem") peer-verify(required-trusted))
    disk-buffer(disk-buf-size(1073741824) reliable(yes)));
};
log { source(s_src); rewrite(r_nano); destination(d_nano); };`
  return { rsyslog, syslogng }
}

function SyslogSetup({ host, token }) {
  const c = syslogConfigs(host, token)
  return html`<div class="syslog-setup" data-testid="syslog-setup">
    <p>Send syslog over TLS to <b>${host}:${syslogPort}</b> with this token in each message (see the documentation's syslog page for client certificates):</p>
    <h4>rsyslog</h4><pre data-testid="rsyslog-config">${c.rsyslog}</pre>
    <h4>syslog-ng</h4><pre data-testid="syslog-ng-config">${c.syslogng}</pre>
  </div>`
}
