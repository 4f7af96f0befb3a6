import type { Router } from '../router.ts';

/** Where the API reference's script is served; the page loads it from this origin only (no CDN). */
export const DOCS_SCRIPT_PATH = '/docs/scalar.js';

const DESCRIPTION =
  'WhatsApp consent and opt-out state, kept in step with HubSpot and Salesforce under the GDPR. ' +
  'Every error is `{ "error": { "code", "message" } }`; a wrong method answers 405 with `Allow`, a body ' +
  'without `Content-Type: application/json` 415. Authenticate with `Authorization: Bearer <API key>`.';

/** The description's fixed part; `servers` is the origin the description was fetched from. */
const info = (server: string) => ({
  openapi: '3.1.0',
  info: {
    title: 'consent-sync',
    version: '0.1.0',
    description: DESCRIPTION,
    license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
  },
  servers: [{ url: server, description: 'this consent-sync server' }],
});

/**
 * Scalar's configuration: the description from this server, no fonts or proxy from elsewhere, the
 * "try it" client calling this origin, and the bearer scheme filled in once for every call.
 */
const SCALAR_CONFIG = {
  url: '/openapi.json',
  withDefaultFonts: false,
  hideClientButton: false,
  telemetry: false,
  agent: { disabled: true },
  mcp: { disabled: true },
  showDeveloperTools: 'never',
  documentDownloadType: 'json',
  defaultOpenAllTags: false,
  authentication: { preferredSecurityScheme: 'bearer' },
};

/**
 * `/openapi.json` from the route definitions, and `/docs`: Scalar's API reference (from the
 * `@scalar/api-reference` package, served by the runtime at DOCS_SCRIPT_PATH) under a nonce CSP.
 */
export function docsRoutes(app: Router) {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key: from API_KEYS (`role:token`, the token part) or made with POST /v1/keys',
  });
  app.doc31('/openapi.json', (c) => info(c.var.services.config.PUBLIC_URL ?? new URL(c.req.url).origin));
  app.get('/docs', (c) => {
    const nonce = crypto.randomUUID().replaceAll('-', '');
    // Scripts: only this page's own (nonce); styles: the bundle injects its stylesheet and sets
    // inline styles; connections: this origin only (the description and "try it" calls).
    c.header(
      'content-security-policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'self' 'unsafe-inline'; ` +
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; " +
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    c.header('referrer-policy', 'no-referrer');
    const config = JSON.stringify(SCALAR_CONFIG).replaceAll('<', '\\u003c');
    return c.html(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="csp-nonce" content="${nonce}">
<link rel="icon" href="data:,">
<title>consent-sync API</title>
</head>
<body>
<noscript>The API reference needs JavaScript. The description itself is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<div id="app"></div>
<script src="${DOCS_SCRIPT_PATH}" nonce="${nonce}"></script>
<script nonce="${nonce}">
if (window.Scalar) window.Scalar.createApiReference('#app', ${config});
else document.getElementById('app').textContent = 'The API reference script (${DOCS_SCRIPT_PATH}) is not served here; the description is at /openapi.json.';
</script>
</body>
</html>`);
  });
}
