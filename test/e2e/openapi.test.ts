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

  it('serves the interactive docs page listing the routes', async () => {
    const res = await h.request('/docs');
    expect(res.status).toBe(200);
    const page = await res.text();
    expect(page).toContain('/v1/subjects/{phone}');
    expect(page).toContain('/v1/keys');
  });
});
