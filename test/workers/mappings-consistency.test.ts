/**
 * Mapping edits on Workers (security review, issue 14, item 10): every isolate builds its services
 * once, so a `PUT /v1/mappings/…` served by one isolate used to stay unseen by the others (the
 * queue consumer and the crons included) until they were recycled. Two Worker instances over the
 * same D1 play two isolates here: an edit made through one is in force in the other at its next
 * request, without a restart.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { ConnectorName } from '../../connectors/types.ts';
import hubspot from '../../mappings/hubspot.json' with { type: 'json' };
import { d1MappingStorage } from '../../src/runtime/mappings.d1.ts';
import { createWorker } from '../../src/runtime/worker.ts';
import { Mappings } from '../../src/sync/mappings.ts';

const ADMIN = 'Bearer workers-admin-token-0123456789';
type View = { mapping: { fields: Array<{ remote: string; description?: string }> } };

async function call(w: ReturnType<typeof createWorker>, method: string, path: string, body?: unknown) {
  const ctx = createExecutionContext();
  const res = await w.fetch(
    new Request(`http://w${path}`, {
      method,
      headers: { authorization: ADMIN, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    }),
    env as never,
    ctx as never,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

const described = (v: View) => v.mapping.fields[0]?.description;

describe('mapping edits across isolates', () => {
  it('a PUT through one isolate is in force in another at its next request', {
    timeout: 90_000,
  }, async () => {
    const a = createWorker();
    const b = createWorker();
    // Both booted and serving the mapping in force.
    const before = (await (await call(b, 'GET', '/v1/mappings/hubspot')).json()) as View;
    expect((await call(a, 'GET', '/v1/mappings/hubspot')).status).toBe(200);

    const marker = `edited through isolate A at ${Date.now()}`;
    const edited = structuredClone(before.mapping);
    edited.fields[0]!.description = marker;
    const put = await call(a, 'PUT', '/v1/mappings/hubspot', edited);
    expect(put.status).toBe(200);

    expect(described((await (await call(b, 'GET', '/v1/mappings/hubspot')).json()) as View)).toBe(marker);

    // And back, through B this time: A follows.
    const restored = await call(b, 'PUT', '/v1/mappings/hubspot', before.mapping);
    expect(restored.status).toBe(200);
    expect(described((await (await call(a, 'GET', '/v1/mappings/hubspot')).json()) as View)).toBe(
      described(before),
    );
  });

  it('a save is checked against HubSpot from workerd too: a property it lacks is refused and D1 keeps the mapping', {
    timeout: 90_000,
  }, async () => {
    const w = createWorker();
    const before = (await (await call(w, 'GET', '/v1/mappings/hubspot')).json()) as View;
    const typo = structuredClone(before.mapping);
    typo.fields[0]!.remote = 'whatsapp_opted_ou';
    const res = await call(w, 'PUT', '/v1/mappings/hubspot', typo);
    expect(res.status).toBe(422);
    const body = (await res.json()) as {
      error: { code: string; details: { issues: Array<{ path: string }> } };
    };
    expect(body.error.code).toBe('MAPPING_CRM_MISMATCH');
    expect(body.error.details.issues.map((i) => i.path)).toEqual(['fields.0.remote']);
    const after = (await (await call(w, 'GET', '/v1/mappings/hubspot')).json()) as View;
    expect(after.mapping.fields[0]?.remote).toBe(before.mapping.fields[0]?.remote);
  });

  it('Mappings.refresh() over D1: one read, only changed mappings validated again, stamps only grow', async () => {
    const purposes = ['marketing', 'transactional'];
    const names: ConnectorName[] = ['hubspot'];
    const one = await Mappings.load(d1MappingStorage(env.DB), { hubspot }, names, purposes);
    // Another isolate whose clock is a minute behind: its edit still gets a later stamp.
    const late = () => new Date(Date.now() - 60_000);
    const two = await Mappings.load(d1MappingStorage(env.DB, late), { hubspot }, names, purposes);
    await two.refresh();

    const first = structuredClone(one.get('hubspot'));
    first.fields[0]!.description = 'first edit';
    expect((await one.replace('hubspot', first)).ok).toBe(true);
    expect(await two.refresh()).toEqual(['hubspot']);
    expect(two.get('hubspot').fields[0]?.description).toBe('first edit');
    expect(await two.refresh()).toEqual([]); // nothing new

    const second = structuredClone(first);
    second.fields[0]!.description = 'second edit, from the slow clock';
    expect((await two.replace('hubspot', second)).ok).toBe(true);
    expect(await one.refresh()).toEqual(['hubspot']);
    expect(one.get('hubspot').fields[0]?.description).toBe('second edit, from the slow clock');

    const { results } = await env.DB.prepare('SELECT updated_at FROM mapping_overrides WHERE connector = ?')
      .bind('hubspot')
      .all<{ updated_at: string }>();
    expect(results[0]!.updated_at > late().toISOString()).toBe(true);
    // leave the shipped default in force for the other workers tests
    expect((await one.replace('hubspot', hubspot)).ok).toBe(true);
  });
});
