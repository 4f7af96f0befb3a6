/**
 * OpenAPI 3.1 from the zod route definitions: every route the app registers is described in
 * `/openapi.json` (method and path), except the few that are not API (the description itself and
 * the HTML console), which are named here so a new route cannot slip through undescribed.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.ts';
import { type Harness, startHarness } from '../helpers/harness.ts';

/** Registered on purpose without an OpenAPI entry. */
const NOT_API = [
  'GET /openapi.json', // the description itself
  'GET /docs', // its HTML rendering
];
/** The reference's script, registered by the Node runtime only (createApp's docsScript). */
/** The web console is HTML for people, documented in the README ("Admin console"), not API. */
const CONSOLE = /^(GET|POST) \/admin(\/|$)/;

interface Doc {
  openapi: string;
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe('OpenAPI', () => {
  it('describes every registered API route, as OpenAPI 3.1, with its responses', async () => {
    const res = await h.request('/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components?.securitySchemes?.bearer).toBeDefined();

    const described = new Set(
      Object.entries(doc.paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    const registered = [
      ...new Set(
        createApp(h.services)
          .routes.filter((r) => r.method !== 'ALL')
          .map((r) => `${r.method} ${r.path}`),
      ),
    ];
    const api = registered.filter((k) => !NOT_API.includes(k) && !CONSOLE.test(k));
    expect(api.length).toBeGreaterThan(20);
    expect(
      api.filter((k) => !described.has(k)),
      'registered but not in /openapi.json',
    ).toEqual([]);
    expect(
      [...described].filter((k) => !registered.includes(k)),
      'described but not registered',
    ).toEqual([]);
    // the exemptions are real routes, and the console really is registered
    for (const k of NOT_API) expect(registered).toContain(k);
    expect(registered.some((k) => CONSOLE.test(k))).toBe(true);
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        expect(Object.keys(op.responses ?? {}).length, `${method} ${path} has no responses`).toBeGreaterThan(
          0,
        );
      }
    }
  });

  it('names every operation, marks the keyless ones, has servers, and its patterns compile', async () => {
    const doc = (await (await h.request('/openapi.json')).json()) as Doc & {
      servers?: Array<{ url: string }>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.servers?.[0]?.url).toBe('http://localhost');
    const ops = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, op]) => ({
        key: `${method.toUpperCase()} ${path}`,
        ...(op as { operationId?: string; security?: unknown[] }),
      })),
    );
    expect(ops.filter((o) => !o.operationId).map((o) => o.key)).toEqual([]);
    expect(new Set(ops.map((o) => o.operationId)).size).toBe(ops.length);
    const keyless = ops.filter((o) => Array.isArray(o.security) && o.security.length === 0).map((o) => o.key);
    expect(keyless.sort()).toEqual(
      [
        'GET /healthz',
        'GET /webhooks/whatsapp',
        'POST /webhooks/whatsapp',
        'POST /webhooks/hubspot',
        'POST /webhooks/salesforce',
      ].sort(),
    );
    expect(ops.filter((o) => o.security === undefined).map((o) => o.key)).toEqual([]);
    // every pattern is a plain ECMA-262 regex a client can compile (the label's once ended in `/u`)
    const patterns: string[] = [];
    JSON.stringify(doc, (k, v) => {
      if (k === 'pattern' && typeof v === 'string') patterns.push(v);
      return v;
    });
    expect(patterns.length).toBeGreaterThan(0);
    for (const p of patterns) {
      expect(p, p).not.toMatch(/\/[a-z]*$/);
      expect(() => new RegExp(p, 'u')).not.toThrow();
    }
    type KeysPost = {
      requestBody: {
        content: { 'application/json': { schema: { properties: { label: { pattern: string } } } } };
      };
    };
    const keysPost = doc.paths['/v1/keys']?.post as unknown as KeysPost | undefined;
    const label = new RegExp(
      keysPost?.requestBody.content['application/json'].schema.properties.label.pattern ?? '',
    );
    expect(label.test('DPO laptop')).toBe(true);
    expect(label.test('line\nbreak')).toBe(false);
    // the WhatsApp webhook's documented 400 (README: bad JSON)
    expect(Object.keys(doc.paths['/webhooks/whatsapp']?.post?.responses ?? {})).toContain('400');
  });

  it('request bodies carry examples, so the reference fills them (not "")', async () => {
    const doc = (await (await h.request('/openapi.json')).json()) as {
      components: { schemas: Record<string, { example?: Record<string, unknown> }> };
    };
    expect(doc.components.schemas.ConsentRequest?.example).toMatchObject({
      phone: '+4915112345678',
      purposes: ['marketing'],
    });
    expect(doc.components.schemas.SendRequest?.example).toMatchObject({ purpose: 'marketing' });
    expect(doc.components.schemas.OptOutRequest?.example).toMatchObject({ purposes: ['marketing'] });
  });

  it("serves /docs as Scalar's API reference from this origin under a nonce CSP (no CDN)", async () => {
    const res = await h.request('/docs');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    const nonce = csp.match(/script-src 'nonce-([0-9a-f]{32})'/)?.[1];
    expect(nonce).toBeDefined();
    expect(csp).toContain("connect-src 'self'");
    const page = await res.text();
    expect(page).toContain(`<script src="/docs/scalar.js" nonce="${nonce}"></script>`);
    expect(page).toContain('Scalar.createApiReference');
    expect(page).toContain('"url":"/openapi.json"');
    expect(page).not.toMatch(/https?:\/\/(?!shop\.example)[a-z0-9.-]+\//i);
    // every script on the page carries the nonce
    for (const tag of page.match(/<script[^>]*>/g) ?? []) expect(tag).toContain(`nonce="${nonce}"`);
  });
});
