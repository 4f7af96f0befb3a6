/**
 * Saving a mapping (issue 16): before it is stored it is checked against the CRM (HubSpot's
 * properties API on the simulator), so a typo in a property name is refused instead of producing
 * dead letters; when the CRM cannot be asked, nothing is saved unless an admin confirms, and the
 * confirmation is in the audit log.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Mapping } from '../../src/core/mapping.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { json } from '../helpers/harness.ts';

let h: CrmHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

interface ErrorBody {
  error: { code: string; message: string; details?: { issues?: Array<{ path: string; message: string }> } };
}

const put = (x: CrmHarness, role: 'editor' | 'admin', mapping: unknown, query = '') =>
  x.request(`/v1/mappings/hubspot${query}`, { method: 'PUT', role, json: mapping });
const inForce = (x: CrmHarness) => structuredClone(x.services.mappings.get('hubspot')) as Mapping;

describe('PUT /v1/mappings checks the CRM', () => {
  it('refuses a property the CRM does not have, and one whose type does not fit, by path; nothing changes', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    const before = inForce(h);
    const typo = inForce(h);
    typo.fields[3] = { ...typo.fields[3]!, remote: 'whatsapp_consent_sorce' };
    const res = await put(h, 'editor', typo);
    expect(res.status).toBe(422);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe('MAPPING_CRM_MISMATCH');
    expect(body.error.details?.issues).toEqual([
      {
        path: 'fields.3.remote',
        message: expect.stringContaining('contact has no property whatsapp_consent_sorce'),
      },
    ]);
    // The dropdown whatsapp_marketing_consent cannot hold a checkbox.
    const misfit = inForce(h);
    const dropdown = misfit.fields.findIndex((f) => f.remote === 'whatsapp_marketing_consent');
    misfit.fields[dropdown] = {
      ...misfit.fields[dropdown]!,
      transform: { type: 'boolean', true: 'opted_in' },
    };
    const res2 = await put(h, 'editor', misfit);
    expect(res2.status).toBe(422);
    expect((await json<ErrorBody>(res2)).error.details?.issues).toEqual([
      {
        path: `fields.${dropdown}.transform`,
        message: expect.stringContaining('whatsapp_marketing_consent is enumeration (a dropdown)'),
      },
    ]);
    expect(h.services.mappings.get('hubspot')).toEqual(before);
    expect(existsSync(join(h.dir, 'mappings', 'hubspot.json'))).toBe(false);
    // The simulator was asked for the contact properties.
    expect(
      h.hubspot.requests.some((r) => r.method === 'GET' && r.path.startsWith('/crm/v3/properties/contacts')),
    ).toBe(true);
    // A good edit passes the same check.
    const good = inForce(h);
    good.fields[3] = { ...good.fields[3]!, description: 'checked against HubSpot' };
    expect((await put(h, 'editor', good)).status).toBe(200);
    const entry = (await h.services.store.listAudit(10)).find((a) => a.action === 'mapping.replace');
    expect(entry?.details.crmCheck).toEqual({ status: 'ok' });
  });

  it('when HubSpot cannot be reached: 502 and nothing saved; only an admin may save unchecked, and that is audited', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    const before = inForce(h);
    const edit = inForce(h);
    edit.fields[3] = { ...edit.fields[3]!, description: 'saved while HubSpot was down' };
    h.hubspot.failNext(2, '503'); // both attempts of the describe call
    const res = await put(h, 'editor', edit);
    expect(res.status).toBe(502);
    const body = await json<ErrorBody>(res);
    expect(body.error.code).toBe('CRM_UNREACHABLE');
    expect(body.error.message).toContain('the CRM answered 503');
    expect(body.error.message).toContain('nothing was saved');
    expect(h.services.mappings.get('hubspot')).toEqual(before);

    const refused = await put(h, 'editor', edit, '?unchecked=true');
    expect(refused.status).toBe(403);
    expect((await json<ErrorBody>(refused)).error.code).toBe('UNCHECKED_SAVE_ADMIN_ONLY');
    expect(h.services.mappings.get('hubspot')).toEqual(before);

    h.hubspot.failNext(2, '503');
    const confirmed = await put(h, 'admin', edit, '?unchecked=true');
    expect(confirmed.status).toBe(200);
    expect(h.services.mappings.get('hubspot').fields[3]?.description).toBe('saved while HubSpot was down');
    const entry = (await h.services.store.listAudit(10)).find((a) => a.action === 'mapping.replace');
    expect(entry?.role).toBe('admin');
    expect(entry?.details.crmCheck).toEqual({
      status: 'skipped',
      confirmedBy: 'admin',
      reason: expect.stringContaining('503'),
    });
  });
});
