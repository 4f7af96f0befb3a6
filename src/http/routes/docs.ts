import { html, raw } from 'hono/html';
import type { Router } from '../app.ts';

const INFO = {
  openapi: '3.1.0',
  info: {
    title: 'consent-sync',
    version: '0.1.0',
    description:
      'WhatsApp consent and opt-out state, kept in step with HubSpot and Salesforce under the GDPR.',
  },
};

const STYLE =
  'body{font-family:system-ui,sans-serif;margin:2rem;max-width:72rem}table{border-collapse:collapse;width:100%}' +
  'td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}code{font-size:.95em}' +
  'details{margin:.2rem 0}summary{cursor:pointer}textarea{width:100%;min-height:7rem;font-family:monospace}' +
  'input{font-family:monospace}pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:20rem}' +
  '.m{display:inline-block;min-width:4.2rem;font-weight:600}';

/**
 * The "try it" part of /docs, run in the browser: reads /openapi.json, and for every operation offers
 * its path parameters, a JSON body prefilled from the request schema, and a Send button that calls
 * the API on this origin with the bearer token typed at the top (kept in this page's memory only).
 */
const TRY_IT = `
const $ = (t, a = {}, ...kids) => { const e = document.createElement(t); Object.assign(e, a); e.append(...kids); return e; };
const token = document.getElementById('token');
const root = document.getElementById('try');
const doc = await (await fetch('/openapi.json')).json();
const deref = (s) => (s && s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s);
function sample(s, depth = 0) {
  s = deref(s) || {};
  if (depth > 4) return null;
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  if (s.anyOf || s.oneOf) return sample((s.anyOf || s.oneOf)[0], depth + 1);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  if (type === 'object' || s.properties) {
    const o = {};
    for (const [k, v] of Object.entries(s.properties || {})) if ((s.required || []).includes(k)) o[k] = sample(v, depth + 1);
    return o;
  }
  if (type === 'array') return [sample(s.items, depth + 1)].filter((x) => x !== null);
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return false;
  return '';
}
for (const [path, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    const params = (op.parameters || []).filter((p) => p.in === 'path' || p.in === 'query');
    const inputs = params.map((p) => [p, $('input', { placeholder: p.name, size: 24 })]);
    const schema = op.requestBody && op.requestBody.content && op.requestBody.content['application/json'];
    const body = schema ? $('textarea', { value: JSON.stringify(sample(schema.schema), null, 2) }) : null;
    const out = $('pre', { textContent: '' });
    const send = $('button', { type: 'button', textContent: 'Send' });
    send.onclick = async () => {
      let url = path;
      const query = new URLSearchParams();
      for (const [p, input] of inputs) {
        if (p.in === 'path') url = url.replace('{' + p.name + '}', encodeURIComponent(input.value));
        else if (input.value) query.set(p.name, input.value);
      }
      if ([...query].length) url += '?' + query;
      const headers = { accept: 'application/json' };
      if (token.value) headers.authorization = 'Bearer ' + token.value;
      if (body) headers['content-type'] = 'application/json';
      out.textContent = '…';
      const res = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
      const text = await res.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
      out.textContent = res.status + ' ' + res.statusText + '\\n' + shown;
    };
    const form = $('div', {}, ...inputs.map(([p, i]) => $('label', {}, p.name + (p.in === 'query' ? ' (query) ' : ' '), i, ' ')));
    if (body) form.append(body);
    form.append(send, out);
    root.append($('details', {}, $('summary', {}, $('span', { className: 'm', textContent: method.toUpperCase() }), $('code', { textContent: path }), ' ' + (op.summary || '')), form));
  }
}
`;

/** `/openapi.json` from the route definitions, and `/docs`: the API as a table and a "try it" page (no CDN). */
export function docsRoutes(app: Router) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  app.doc31('/openapi.json', INFO);
  app.get('/docs', (c) => {
    const doc = app.getOpenAPI31Document(INFO);
    const rows = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item ?? {}).map(([method, op]) => {
        const o = op as { summary?: string; security?: unknown[] };
        return html`<tr><td><code>${method.toUpperCase()}</code></td><td><code>${path}</code></td><td>${o.summary ?? ''}</td><td>${o.security?.length ? 'bearer token' : 'public / signed'}</td></tr>`;
      }),
    );
    const nonce = crypto.randomUUID().replaceAll('-', '');
    // Only this page's own script may run, and it may only call this origin.
    c.header(
      'content-security-policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; connect-src 'self'; ` +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    c.header('referrer-policy', 'no-referrer');
    return c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>consent-sync API</title><style>${raw(STYLE)}</style></head>
<body><h1>consent-sync API</h1><p>${INFO.info.description} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Try it</h2>
<p><label>Bearer token <input id="token" type="password" size="48" autocomplete="off"></label>
(kept in this page only; each call goes to this server with it)</p>
<div id="try"><noscript>Needs JavaScript; the table below lists every route.</noscript></div>
<h2>Routes</h2>
<table><thead><tr><th>method</th><th>route</th><th>what</th><th>auth</th></tr></thead><tbody>${rows}</tbody></table>
<script type="module" nonce="${nonce}">${raw(TRY_IT)}</script></body></html>`);
  });
}
