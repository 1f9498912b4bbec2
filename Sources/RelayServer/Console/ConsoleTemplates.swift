import Mustache

/// The admin console's pages as Mustache templates. `{{name}}` escapes HTML (every value that comes
/// from a service, a producer or a client goes through it); `{{{content}}}` inserts a page the
/// layout wraps, already rendered. No inline script or style: the Content-Security-Policy forbids them.
enum ConsoleTemplates {
    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        {{#refresh}}<meta http-equiv="refresh" content="{{.}}">{{/refresh}}
        <title>{{title}} · bimrelay</title>
        <link rel="stylesheet" href="/admin/console.css">
        </head>
        <body>
        <header>
        <span class="brand">bimrelay</span>
        {{#signedIn}}
        <nav>{{#nav}}<a href="{{href}}"{{#current}} aria-current="page"{{/current}}>{{label}}</a>{{/nav}}</nav>
        <form method="post" action="/admin/signout" class="signout">
        <input type="hidden" name="csrf" value="{{csrf}}"><span class="user">{{user}}</span> <button>Sign out</button>
        </form>
        {{/signedIn}}
        </header>
        <main>
        <h1>{{title}}</h1>
        {{#notice}}<p class="notice" role="status">{{notice}}</p>{{/notice}}
        {{#error}}<p class="error" role="alert">{{error}}</p>{{/error}}
        {{{content}}}
        </main>
        </body>
        </html>
        """

    static let signIn = """
        <form method="post" action="/admin/signin" class="signin">
        <input type="hidden" name="csrf" value="{{csrf}}">
        <label for="token">Admin token</label>
        <input id="token" name="token" type="password" autocomplete="off" required placeholder="brt_…">
        <button>Sign in</button>
        </form>
        <p class="hint">Issue one with <code>bimrelay token issue --user you --role admin</code>. The token is sent once, in
        this form; the browser keeps only a session cookie.</p>
        """

    static let overview = """
        <section class="cards">
        <div class="card {{healthClass}}"><h2>Health</h2><p class="big">{{health}}</p>
        <ul class="facts">{{#healthFacts}}<li><span>{{name}}</span> {{value}}</li>{{/healthFacts}}</ul></div>
        {{#states}}<div class="card state-{{state}}"><h2>{{label}}</h2><p class="big">{{count}}</p></div>{{/states}}
        <div class="card"><h2>Endpoints connected</h2><p class="big">{{connected}}</p></div>
        <div class="card"><h2>Write-ahead log</h2><p class="big">{{wal}}</p></div>
        </section>
        <section class="charts">
        {{#charts}}<figure><figcaption>{{title}} <span class="muted">last hour, now {{last}}, peak {{peak}}</span></figcaption>{{{svg}}}</figure>{{/charts}}
        </section>
        <p class="muted">Queue depth: pending, in flight and paused deliveries, worked back from the current count with the
        deliveries created, delivered and dead per minute.</p>
        <h2>By service <span class="muted">counted {{countedAt}}</span></h2>
        <table>
        <thead><tr><th>Service</th><th>Pending</th><th>In flight</th><th>Paused</th><th>Dead</th><th>Delivered</th><th>Oldest pending</th></tr></thead>
        <tbody>
        {{#services}}<tr><td><a href="/admin/deliveries?service={{identifierQuery}}">{{identifier}}</a>{{^enabled}} <span class="badge off">disabled</span>{{/enabled}}</td>
        <td>{{pending}}</td><td>{{inFlight}}</td><td>{{paused}}</td><td class="{{#hasDead}}bad{{/hasDead}}">{{dead}}</td><td>{{delivered}}</td><td>{{oldestPending}}</td></tr>{{/services}}
        {{^services}}<tr><td colspan="7" class="muted">No services registered.</td></tr>{{/services}}
        </tbody>
        </table>
        """

    static let services = """
        <table>
        <thead><tr><th>Service</th><th>State</th><th>Last success</th><th>Failures in a row</th><th>Dead</th><th>Actions</th></tr></thead>
        <tbody>
        {{#services}}
        <tr id="service-{{identifier}}">
        <td><strong>{{identifier}}</strong><br><span class="muted">{{name}}</span><br><code>{{url}}</code></td>
        <td>{{#enabled}}<span class="badge on">enabled</span>{{#failingSince}}<br><span class="bad">failing since {{failingSince}}</span>{{/failingSince}}{{/enabled}}
        {{^enabled}}<span class="badge off">disabled</span><br><span class="muted">{{disabledAt}}</span><br>{{disabledReason}}{{/enabled}}</td>
        <td>{{lastSuccess}}</td>
        <td class="{{#failing}}bad{{/failing}}">{{failures}}</td>
        <td><a href="/admin/deliveries?service={{identifierQuery}}&amp;state=dead">{{dead}}</a></td>
        <td class="actions">
        {{#enabled}}
        <form method="post" action="/admin/services/{{identifierPath}}/disable"><input type="hidden" name="csrf" value="{{csrf}}">
        <input name="reason" placeholder="reason" maxlength="200"><button>Disable</button></form>
        {{/enabled}}
        {{^enabled}}
        <form method="post" action="/admin/services/{{identifierPath}}/enable"><input type="hidden" name="csrf" value="{{csrf}}"><button>Enable</button></form>
        {{/enabled}}
        <form method="post" action="/admin/services/{{identifierPath}}/resume"><input type="hidden" name="csrf" value="{{csrf}}">
        <button title="Enable it and requeue its dead letters">Resume</button></form>
        </td>
        </tr>
        {{/services}}
        {{^services}}<tr><td colspan="6" class="muted">No services registered: <code>bimrelay service add</code>.</td></tr>{{/services}}
        </tbody>
        </table>
        <p class="muted">Resume enables a service and requeues its dead letters, due now.</p>
        """

    static let deliveries = """
        <form method="get" action="/admin/deliveries" class="filters">
        <label>Service <select name="service"><option value="">any</option>{{#serviceOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/serviceOptions}}</select></label>
        <label>State <select name="state"><option value="">any</option>{{#stateOptions}}<option value="{{value}}"{{#selected}} selected{{/selected}}>{{value}}</option>{{/stateOptions}}</select></label>
        <label>Project (poid) <input name="poid" value="{{filter_poid}}" inputmode="numeric" size="8"></label>
        <label>Revision (roid) <input name="roid" value="{{filter_roid}}" inputmode="numeric" size="8"></label>
        <label>Since <input name="since" value="{{filter_since}}" placeholder="24h or 2026-11-30 08:00" size="18"></label>
        <label>Until <input name="until" value="{{filter_until}}" placeholder="UTC" size="18"></label>
        <button>Filter</button>
        </form>
        {{#requeue}}
        <form method="post" action="/admin/deliveries/requeue-dead" class="bulk">
        <input type="hidden" name="csrf" value="{{csrf}}"><input type="hidden" name="service" value="{{requeueService}}">
        <button>Requeue every dead letter{{#requeueService}} of {{requeueService}}{{/requeueService}}</button>
        </form>
        {{/requeue}}
        <table>
        <thead><tr><th>Id</th><th>Service</th><th>Event</th><th>State</th><th>Attempts</th><th>Last result</th><th>Created</th></tr></thead>
        <tbody>
        {{#rows}}
        <tr><td><a href="/admin/deliveries/{{id}}">{{id}}</a></td><td>{{service}}</td>
        <td>{{method}}{{#poid}} poid {{poid}}{{/poid}}{{#roid}} roid {{roid}}{{/roid}}</td>
        <td><span class="badge state-{{state}}">{{state}}</span></td><td>{{attempts}}</td>
        <td>{{#status}}HTTP {{status}} {{/status}}{{lastError}}</td><td>{{created}}</td></tr>
        {{/rows}}
        {{^rows}}<tr><td colspan="7" class="muted">No delivery matches.</td></tr>{{/rows}}
        </tbody>
        </table>
        {{#next}}<p><a href="{{next}}" rel="next">Older deliveries →</a></p>{{/next}}
        """

    static let delivery = """
        <section class="cards">
        <div class="card"><h2>State</h2><p class="big"><span class="badge state-{{state}}">{{state}}</span></p></div>
        <div class="card"><h2>Service</h2><p class="big"><a href="/admin/deliveries?service={{serviceQuery}}">{{service}}</a></p></div>
        <div class="card"><h2>Attempts</h2><p class="big">{{attemptCount}}</p></div>
        </section>
        <dl class="facts">
        <dt>webhook-id</dt><dd><code>{{webhookID}}</code></dd>
        <dt>Created</dt><dd>{{created}}</dd>
        {{#nextAttempt}}<dt>Next attempt</dt><dd>{{nextAttempt}}</dd>{{/nextAttempt}}
        {{#delivered}}<dt>Delivered</dt><dd>{{delivered}}</dd>{{/delivered}}
        {{#dead}}<dt>Dead since</dt><dd>{{dead}}</dd>{{/dead}}
        {{#lastError}}<dt>Last error</dt><dd class="bad">{{lastError}}</dd>{{/lastError}}
        </dl>
        <h2>Event {{eventID}}</h2>
        {{#event}}
        <dl class="facts">
        <dt>Method</dt><dd>{{method}}</dd>
        <dt>Addressed to</dt><dd>{{serviceIdentifier}}{{#profile}} (profile {{profile}}){{/profile}}</dd>
        {{#poid}}<dt>Project</dt><dd>{{poid}}</dd>{{/poid}}
        {{#roid}}<dt>Revision</dt><dd>{{roid}}</dd>{{/roid}}
        {{#edid}}<dt>Extended data</dt><dd>{{edid}}</dd>{{/edid}}
        {{#soid}}<dt>Service object</dt><dd>{{soid}}</dd>{{/soid}}
        <dt>Received</dt><dd>{{received}}</dd>
        <dt>BIMserver token</dt><dd>{{#hasToken}}forwarded to the service (not shown){{/hasToken}}{{^hasToken}}none{{/hasToken}}</dd>
        </dl>
        {{/event}}
        {{^event}}<p class="muted">The event was deleted by retention.</p>{{/event}}
        <h2>Attempts</h2>
        <table class="attempts">
        <thead><tr><th>#</th><th>Started</th><th>Duration</th><th>Outcome</th><th>Status</th><th>Error</th><th>Response</th></tr></thead>
        <tbody>
        {{#attempts}}
        <tr><td>{{attempt}}</td><td>{{started}}</td><td>{{duration}}</td><td><span class="badge state-{{outcome}}">{{outcome}}</span></td>
        <td>{{status}}</td><td>{{#errorClass}}<strong>{{errorClass}}</strong> {{/errorClass}}{{error}}</td>
        <td>{{#response}}<pre>{{response}}</pre>{{/response}}</td></tr>
        {{/attempts}}
        {{^attempts}}<tr><td colspan="7" class="muted">No attempt yet.</td></tr>{{/attempts}}
        </tbody>
        </table>
        {{#canRetry}}
        <form method="post" action="/admin/deliveries/{{id}}/retry"><input type="hidden" name="csrf" value="{{csrf}}">
        <button>Retry now</button> <span class="muted">due now, with a fresh retry schedule</span></form>
        {{/canRetry}}
        """

    static let streams = """
        <h2>Progress topics</h2>
        <table>
        <thead><tr><th>Topic</th><th>Type</th><th>Scope</th><th>Description</th><th>Progress</th><th>Listeners</th><th>Updated</th></tr></thead>
        <tbody>
        {{#topics}}
        <tr><td>{{id}}{{#closed}} <span class="badge off">closed</span>{{/closed}}</td><td>{{type}}</td><td>{{scope}}</td>
        <td class="description">{{description}}{{#title}}<br><span class="muted">{{title}}</span>{{/title}}</td>
        <td>{{#known}}<progress max="100" value="{{progress}}">{{progress}} %</progress> {{progress}} %{{/known}}{{^known}}<progress>…</progress>{{/known}} {{stateName}}</td>
        <td>{{subscribers}}</td><td>{{updated}}</td></tr>
        {{/topics}}
        {{^topics}}<tr><td colspan="7" class="muted">No progress topic.</td></tr>{{/topics}}
        </tbody>
        </table>
        <h2>Endpoints</h2>
        <table>
        <thead><tr><th>Endpoint</th><th>User</th><th>Token</th><th>Socket</th><th>Frames pending</th><th>Subscriptions</th></tr></thead>
        <tbody>
        {{#endpoints}}
        <tr><td>{{id}}</td><td>{{user}}</td><td><code>{{token}}…</code></td>
        <td>{{#connected}}<span class="badge on">connected</span>{{#node}} on {{node}}{{/node}}{{/connected}}{{^connected}}<span class="badge off">dropped</span> {{dropped}}{{/connected}}</td>
        <td>{{pending}}</td><td>{{subscriptions}}</td></tr>
        {{/endpoints}}
        {{^endpoints}}<tr><td colspan="6" class="muted">No endpoint.</td></tr>{{/endpoints}}
        </tbody>
        </table>
        {{#moreEndpoints}}<p><a href="{{moreEndpoints}}" rel="next">Older endpoints →</a></p>{{/moreEndpoints}}
        <h2>Tokens</h2>
        <table>
        <thead><tr><th>Id</th><th>Prefix</th><th>User</th><th>Role</th><th>Projects</th><th>Last used</th><th></th></tr></thead>
        <tbody>
        {{#tokens}}
        <tr id="token-{{id}}"><td>{{id}}</td><td><code>{{prefix}}…</code></td><td>{{user}}</td><td>{{role}}</td><td>{{projects}}</td><td>{{lastUsed}}</td>
        <td>{{#revoked}}<span class="badge off">revoked {{revoked}}</span>{{/revoked}}{{^revoked}}
        <form method="post" action="/admin/tokens/{{id}}/revoke"><input type="hidden" name="csrf" value="{{csrf}}"><button>Revoke</button></form>{{/revoked}}</td></tr>
        {{/tokens}}
        </tbody>
        </table>
        {{#upstreamTokens}}<p class="muted">And {{upstreamTokens}} BIMserver tokens seen in gateway mode (BIMserver vouches for them).</p>{{/upstreamTokens}}
        """

    static let css = """
        :root { --fg: #1d2330; --muted: #667085; --line: #d9dee8; --bg: #f6f7fa; --ok: #1a7f37; --bad: #b42318; --accent: #2f5fd0; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.5rem; background: #1d2330; color: #fff; }
        header a { color: #cfd8ff; text-decoration: none; margin-right: 1rem; }
        header a[aria-current] { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
        .brand { font-weight: 700; letter-spacing: .02em; }
        .signout { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
        main { padding: 1rem 1.5rem 3rem; max-width: 1280px; }
        h1 { font-size: 1.4rem; margin: .4rem 0 1rem; } h2 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
        table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
        th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { background: #eef1f6; font-weight: 600; }
        code, pre { font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; }
        pre { margin: 0; white-space: pre-wrap; word-break: break-all; max-width: 32rem; max-height: 10rem; overflow: auto; }
        .cards { display: flex; flex-wrap: wrap; gap: .8rem; align-items: flex-start; margin-bottom: 1rem; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .6rem .9rem; min-width: 9rem; }
        .card h2 { margin: 0; font-size: .8rem; color: var(--muted); font-weight: 600; text-transform: uppercase; }
        .card .big { font-size: 1.5rem; margin: .2rem 0; }
        .card.healthy .big { color: var(--ok); } .card.unhealthy .big { color: var(--bad); }
        .facts { list-style: none; padding: 0; margin: 0; color: var(--muted); font-size: .85rem; }
        dl.facts { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; color: var(--fg); }
        dl.facts dt { color: var(--muted); }
        .charts { display: flex; flex-wrap: wrap; gap: 1rem; margin-top: 1rem; }
        figure { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; }
        figcaption { font-weight: 600; margin-bottom: .3rem; }
        .muted { color: var(--muted); font-weight: normal; } .bad { color: var(--bad); }
        .badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: .8rem; background: #e7eaf0; }
        .badge.on, .state-delivered { background: #dcf5e3; color: var(--ok); }
        .badge.off, .state-dead, .state-failed { background: #fde3e1; color: var(--bad); }
        .state-pending, .state-in_flight { background: #e2e9fb; color: var(--accent); } .state-paused { background: #fff1d6; }
        .notice { background: #dcf5e3; padding: .5rem .8rem; border-radius: 6px; }
        .error { background: #fde3e1; padding: .5rem .8rem; border-radius: 6px; }
        form { margin: 0; } .actions form { display: inline-block; margin: 0 .3rem .3rem 0; }
        .filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: .8rem; }
        .filters label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
        .bulk { margin-bottom: .8rem; }
        .signin { display: flex; flex-direction: column; gap: .5rem; max-width: 24rem; background: #fff; padding: 1rem;
          border: 1px solid var(--line); border-radius: 6px; }
        input, select, button { font: inherit; padding: .25rem .5rem; }
        button { background: var(--accent); color: #fff; border: 0; border-radius: 4px; cursor: pointer; }
        header button { background: #3a4560; }
        progress { width: 8rem; vertical-align: middle; }
        td.description { max-width: 24rem; word-break: break-word; }
        svg .line { fill: none; stroke: var(--accent); stroke-width: 1.5; } svg .area { fill: #e2e9fb; }
        svg text { font-size: 10px; fill: var(--muted); }
        """
}
