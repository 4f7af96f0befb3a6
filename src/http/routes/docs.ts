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

/** `/openapi.json` from the route definitions, and `/docs`: a self-contained page (no CDN). */
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
    return c.html(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>consent-sync API</title>
<style>${raw('body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}code{font-size:.95em}')}</style></head>
<body><h1>consent-sync API</h1><p>${INFO.info.description} Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<table><thead><tr><th>method</th><th>route</th><th>what</th><th>auth</th></tr></thead><tbody>${rows}</tbody></table></body></html>`);
  });
}
