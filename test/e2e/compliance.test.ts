/**
 * The compliance report (issue 7, deliver 7): the record of processing is derived from the running
 * configuration (catalog wording, enabled connectors and their whitelists, storage, retention,
 * measures), and the checklist follows real state changes (mappings, erasures, the ledger file,
 * configuration) both ways. Also the Markdown download and what it must never contain.
 */
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChecklistItem, ComplianceReport } from '../../src/compliance/report.ts';
import { sha256Hex } from '../../src/crypto/encoding.ts';
import { type CrmHarness, startCrmHarness } from '../helpers/crm.ts';
import { type Harness, type HarnessOptions, json, startHarness, TOKENS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123456790';
const WA = '4915123456790';

let h: Harness | CrmHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const report = async (hh: Harness = h!) => {
  const res = await hh.request('/v1/compliance', { role: 'auditor' });
  expect(res.status).toBe(200);
  return json<ComplianceReport>(res);
};
const item = async (id: string, hh: Harness = h!): Promise<ChecklistItem> => {
  const found = (await report(hh)).checklist.find((i) => i.id === id);
  expect(found, id).toBeDefined();
  return found!;
};
/** A person asks for marketing consent and confirms it on WhatsApp. */
async function confirmedConsent(hh: Harness): Promise<void> {
  await hh.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: { phone: PHONE, purposes: ['marketing'] },
  });
  await hh.webhook(textMessage(WA, 'JA'));
}
const crmIds = (r: ComplianceReport) => r.record.recipients.filter((x) => x.kind === 'crm').map((x) => x.id);

/** A real privacy policy and business name instead of the shipped placeholders. */
const realBusiness: HarnessOptions['catalog'] = (files) => {
  files.texts.business = {
    name: 'Muster Versand GmbH',
    privacyPolicyUrl: 'https://www.muster-versand.de/datenschutz',
  };
};

type RawTexts = {
  business: { name: string; privacyPolicyUrl: string };
  stopKeyword: Record<string, string>;
  consentTexts: Record<string, Record<string, { current: string; versions: Record<string, string> }>>;
};

describe('record of processing', () => {
  it('quotes every consent text exactly as the catalog renders it and as the ledger recorded it', async () => {
    h = await startHarness();
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing', 'transactional'], locale: 'en' },
    });
    const r = await report();
    const raw = JSON.parse(
      readFileSync(new URL('../../catalog/texts.json', import.meta.url), 'utf8'),
    ) as RawTexts;
    // Rendered independently of the app: the placeholders filled in from the same file.
    const expected = [];
    for (const [purpose, byLocale] of Object.entries(raw.consentTexts)) {
      for (const [locale, t] of Object.entries(byLocale)) {
        for (const [version, template] of Object.entries(t.versions)) {
          const text = template
            .replaceAll('{business}', raw.business.name)
            .replaceAll('{privacyPolicyUrl}', raw.business.privacyPolicyUrl)
            .replaceAll('{stopKeyword}', raw.stopKeyword[locale] ?? '');
          expected.push({
            purpose,
            locale,
            version,
            current: version === t.current,
            text,
            sha256: await sha256Hex(text),
          });
        }
      }
    }
    const got = r.record.purposes.flatMap((p) => p.texts.map((t) => ({ purpose: p.id, ...t })));
    expect(got).toEqual(expected);
    expect(r.record.purposes.map((p) => p.id)).toEqual(['marketing', 'transactional']);
    expect(r.record.purposes[0]?.label).toEqual({ de: 'Angebote und Neuigkeiten', en: 'offers and news' });

    // The wording the ledger recorded for this person's request is the wording in the record.
    const used = await h.services.store.allTexts();
    expect(used.map((u) => u.version).sort()).toEqual(['marketing-en-1', 'transactional-en-1']);
    for (const u of used) {
      expect(got.find((t) => t.version === u.version)).toMatchObject({ text: u.text, sha256: u.sha256 });
    }
  });

  it('without CRMs lists WhatsApp (Meta) as the only recipient; storage, retention and contacts follow the configuration', async () => {
    h = await startHarness({
      env: {
        DATA_DIR: '/srv/consent-sync',
        RETENTION_MESSAGES_DAYS: '0',
        DPO_CONTACT: 'dpo@muster-versand.de',
      },
    });
    const r = await report();
    expect(r.record.recipients.map((x) => [x.id, x.vendor])).toEqual([
      ['whatsapp', 'Meta Platforms Ireland Ltd.'],
    ]);
    expect(r.record.recipients[0]?.endpoint).toBe(h.services.config.WHATSAPP_GRAPH_URL);
    expect(r.record.storage).toEqual({
      runtime: 'node',
      engine: 'SQLite',
      location: '/srv/consent-sync/consent-sync.db, /srv/consent-sync/inbox.db',
    });
    expect(r.record.controller).toEqual({
      name: 'Beispiel GmbH',
      contact: null,
      dpoContact: 'dpo@muster-versand.de',
      privacyPolicyUrl: 'https://example.com/datenschutz',
    });
    const period = (setting: string) => r.record.retention.find((x) => x.setting === setting)?.period;
    expect(period('RETENTION_MESSAGES_DAYS')).toBe('kept (0 = no limit)');
    expect(period('RETENTION_JOBS_DAYS')).toBe('30 days');
    expect(period('ERASURE_DUE_DAYS')).toBe('answered within 30 days of receipt');
    expect(r.checklist.find((i) => i.id === 'storage-limitation')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('RETENTION_MESSAGES_DAYS'),
    });
    expect(r.checklist.find((i) => i.id === 'record')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('CONTROLLER_CONTACT'),
    });
    expect(r.record.categories.map((c) => c.category)).not.toContain(
      'CRM synchronisation (whitelisted fields only)',
    );
  });

  it('lists exactly the enabled connectors, each with exactly its whitelist', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    let r = await report();
    expect(crmIds(r)).toEqual(['hubspot']);
    const mapping = h.services.mappings.get('hubspot');
    const hubspot = r.record.recipients.find((x) => x.id === 'hubspot')!;
    const pushed = mapping.fields
      .filter((f) => f.direction !== 'pull')
      .map((f) => `${f.remote} ← ${f.local} (${f.direction})`);
    const pulled = mapping.fields
      .filter((f) => f.direction !== 'push')
      .map((f) => `${f.local} ← ${f.remote} (${f.direction})`);
    expect(hubspot.sent.slice(0, pushed.length)).toEqual(pushed);
    expect(hubspot.sent).toHaveLength(pushed.length + 2);
    expect(hubspot.received.slice(1, 1 + pulled.length)).toEqual(pulled);
    expect(hubspot.endpoint).toBe(h.services.config.HUBSPOT_BASE_URL);
    const crmCategory = r.record.categories.find((c) => c.category.startsWith('CRM'));
    expect(crmCategory?.items.filter((i) => i.startsWith('hubspot: '))).toHaveLength(mapping.fields.length);
    await h.close();

    h = await startCrmHarness();
    r = await report();
    expect(crmIds(r)).toEqual(['hubspot', 'salesforce']);
    expect(r.record.security.map((m) => m.measure)).toEqual(
      expect.arrayContaining(['Signed HubSpot webhooks', 'Authenticated Salesforce callbacks']),
    );
  });
});

describe('checklist', () => {
  it('has one item per duty of ARCHITECTURE.md, and a summary that counts them', async () => {
    h = await startHarness();
    const r = await report();
    const articles = r.checklist.map((i) => i.article);
    for (const a of ['Art. 7(1)', 'Art. 7(3)', 'Art. 5(1)(c), 25', 'Art. 17, 19', 'Art. 12(3)', 'Art. 32']) {
      expect(articles).toContain(a);
    }
    expect(r.checklist.map((i) => i.duty)).toEqual(
      expect.arrayContaining(['double opt-in', 'every message carries an opt-out hint']),
    );
    const count = (s: string) => r.checklist.filter((i) => i.status === s).length;
    expect(r.summary).toEqual({ ok: count('ok'), warn: count('warn'), fail: count('fail') });
    expect(r.summary.ok + r.summary.warn + r.summary.fail).toBe(r.checklist.length);
  });

  it('a mapping that pushes no opt-out fails Art. 7(3); trustOptIn warns on double opt-in; both recover', async () => {
    h = await startCrmHarness({ enable: ['hubspot'] });
    expect(await item('withdrawal')).toMatchObject({ status: 'ok' });
    expect(await item('double-opt-in')).toMatchObject({ status: 'ok' });
    const original = structuredClone(h.services.mappings.get('hubspot'));
    // admin: trustOptIn is an admin-only setting (issue 14, finding 4)
    const put = (mapping: unknown) =>
      h!.request('/v1/mappings/hubspot', { method: 'PUT', role: 'admin', json: mapping });

    const noOptOut = {
      ...original,
      fields: original.fields.filter((f) => f.local !== 'optedOut' && !f.local.endsWith('.status')),
    };
    expect(noOptOut.fields.length).toBeGreaterThan(0);
    expect((await put(noOptOut)).status).toBe(200);
    expect(await item('withdrawal')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('hubspot'),
    });

    expect((await put({ ...original, trustOptIn: true })).status).toBe(200);
    expect(await item('withdrawal')).toMatchObject({ status: 'ok' });
    expect(await item('double-opt-in')).toMatchObject({
      status: 'warn',
      detail: expect.stringContaining('trustOptIn'),
    });

    expect((await put(original)).status).toBe(200);
    expect(await item('double-opt-in')).toMatchObject({ status: 'ok' });
  });

  it('an overdue erasure fails Art. 12(3) until it is finished', async () => {
    const crm = await startCrmHarness({ enable: ['hubspot'] });
    h = crm;
    expect(await item('erasure-deadline')).toMatchObject({ status: 'ok' });
    crm.hubspot.failNext(1000, '502');
    const res = await crm.request('/v1/erasures', {
      method: 'POST',
      role: 'operator',
      json: { phone: PHONE },
    });
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    expect(await item('erasure-deadline')).toMatchObject({ status: 'ok' });
    crm.advance(31 * 86_400_000);
    const failing = await item('erasure-deadline');
    expect(failing.status).toBe('fail');
    expect(failing.detail).toMatch(/^1 erasure request\(s\) are overdue/);
    expect((await report()).summary.fail).toBeGreaterThan(0);

    crm.hubspot.reset();
    await crm.settle();
    const { status } = await json<{ status: string }>(
      await crm.request(`/v1/erasures/${id}`, { role: 'operator' }),
    );
    expect(status).toBe('completed');
    expect(await item('erasure-deadline')).toMatchObject({ status: 'ok' });
  });

  it('a sync dead letter warns, fails once older than 7 days, and clears when retried', async () => {
    const crm = await startCrmHarness({ enable: ['hubspot'] });
    h = crm;
    const contact = crm.hubspot.addContact({ mobilephone: PHONE });
    crm.hubspot.failRecord(contact, 1_000);
    await crm.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    await crm.settle();
    const dead = await crm.services.store.listJobs({ status: 'dead', kind: 'sync.hubspot' });
    expect(dead).toHaveLength(1);
    expect(await item('sync')).toMatchObject({
      status: 'warn',
      detail: expect.stringMatching(/^1 recent sync dead letter/),
    });
    crm.advance(8 * 86_400_000);
    expect(await item('sync')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('older than 7 days'),
    });

    crm.hubspot.failRecord(contact, 0);
    const retry = await crm.request(`/v1/sync/jobs/${dead[0]!.id}/retry`, {
      method: 'POST',
      role: 'operator',
    });
    expect(retry.status).toBe(200);
    await crm.settle();
    expect(await item('sync')).toMatchObject({ status: 'ok' });
  });

  it('a tampered ledger file fails Art. 7(1) and the ledger measure; putting it back restores both', async () => {
    h = await startHarness();
    await confirmedConsent(h);
    expect(await item('consent-proof')).toMatchObject({
      status: 'ok',
      detail: expect.stringMatching(/^\d+ ledger events verify/),
    });
    const db = new DatabaseSync(h.dbPath);
    db.exec('PRAGMA busy_timeout = 5000');
    const source = String(db.prepare('SELECT source FROM ledger WHERE seq = 1').get()?.source);
    db.prepare('UPDATE ledger SET source = ? WHERE seq = 1').run(source === 'api' ? 'form' : 'api');
    const r = await report();
    expect(r.checklist.find((i) => i.id === 'consent-proof')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('hash_mismatch'),
    });
    expect(r.record.security.find((m) => m.measure === 'Hash-chained consent ledger')?.inPlace).toBe(false);
    db.prepare('UPDATE ledger SET source = ? WHERE seq = 1').run(source);
    db.close();
    expect(await item('consent-proof')).toMatchObject({ status: 'ok' });
  });

  it('the shipped placeholder privacy policy fails Art. 13; a real one passes and is quoted in the texts', async () => {
    h = await startHarness();
    expect(await item('transparency')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('example.com'),
    });
    await h.close();
    h = await startHarness({ catalog: realBusiness });
    const r = await report();
    expect(r.checklist.find((i) => i.id === 'transparency')?.status).toBe('ok');
    expect(r.record.controller.name).toBe('Muster Versand GmbH');
    for (const p of r.record.purposes)
      for (const t of p.texts) expect(t.text).toContain('https://www.muster-versand.de/datenschutz');
  });

  it('development keys fail Art. 32; production configuration with contacts passes', async () => {
    const keys = Object.entries(TOKENS).map(([r, t]) => `${r}:${t}`);
    h = await startHarness({
      env: { API_KEYS: [...keys, 'operator:dev-operator-abcdefghijklmnop'].join(',') },
    });
    expect(await item('security')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('operator'),
    });
    expect((await item('security')).detail).not.toContain('dev-operator-abcdefghijklmnop');
    await h.close();

    h = await startHarness({
      catalog: realBusiness,
      env: {
        NODE_ENV: 'production',
        CONTROLLER_CONTACT: 'Musterstraße 1, 10115 Berlin',
        DPO_CONTACT: 'dpo@muster-versand.de',
      },
    });
    const r = await report();
    const status = Object.fromEntries(r.checklist.map((i) => [i.id, i.status]));
    expect(status).toMatchObject({ security: 'ok', record: 'ok', transparency: 'ok', 'double-opt-in': 'ok' });
    expect(r.record.security.find((m) => m.measure === 'Production configuration')?.inPlace).toBe(true);
    expect(r.record.controller.contact).toBe('Musterstraße 1, 10115 Berlin');
  });

  it('without WhatsApp sending the double opt-in cannot work: fail', async () => {
    h = await startHarness({ whatsapp: false });
    expect(await item('double-opt-in')).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('WHATSAPP_ACCESS_TOKEN'),
    });
    expect((await report()).record.recipients[0]?.sent[0]).toMatch(/^nothing: sending is not configured/);
  });
});

describe('the downloadable record', () => {
  it('is Markdown with attachment headers, holds the texts and the checklist, and is audited', async () => {
    h = await startHarness({ catalog: realBusiness });
    const res = await h.request('/v1/compliance/record', { role: 'auditor' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(
      'attachment; filename="record-of-processing-2026-03-02.md"',
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const md = await res.text();
    const r = await report();
    expect(md.startsWith('# Record of processing activities (Art. 30 GDPR): Muster Versand GmbH\n')).toBe(
      true,
    );
    for (const p of r.record.purposes) for (const t of p.texts) expect(md).toContain(`> ${t.text}`);
    for (const i of r.checklist) expect(md).toContain(`| ${i.duty} | ${i.article} |`);
    expect(md).toContain('| Data protection officer | (not configured: set DPO_CONTACT) |');
    const audit = (await h.services.store.listAudit(10)).filter((a) => a.action === 'compliance.export');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      role: 'auditor',
      actor: (await sha256Hex(TOKENS.auditor)).slice(0, 12),
    });
  });

  it('holds no personal data: no number, in the report or the document', async () => {
    h = await startHarness();
    await confirmedConsent(h);
    await h.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: '+4915123456791' } });
    const body = JSON.stringify(await report());
    const md = await (await h.request('/v1/compliance/record', { role: 'admin' })).text();
    for (const s of [body, md]) {
      expect(s).not.toContain(WA);
      expect(s).not.toContain('4915123456791');
    }
  });
});
