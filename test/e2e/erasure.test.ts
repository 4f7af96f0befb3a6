/**
 * Erasure end to end (issue 4): every way in, fan-out to the HubSpot and Salesforce simulators,
 * crypto-shredding, tombstones, receipts, deadlines, retention and the Art. 15 export.
 */
import { readFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { type CrmHarness, SALESFORCE, startCrmHarness } from '../helpers/crm.ts';
import { json } from '../helpers/harness.ts';
import { interactiveReply, textMessage } from '../helpers/whatsapp.ts';

// Fictitious numbers only.
const PHONE = '+4915123400501';
const WA = '4915123400501';
const P = encodeURIComponent(PHONE);
const ts = () => String(Math.floor(Date.now() / 1000));

let h: CrmHarness;
afterEach(async () => {
  await h?.close();
});

interface ErasureBody {
  id: string;
  subject: string;
  status: 'open' | 'completed';
  source: string;
  dueAt: string;
  receivedAt: string;
  overdue: boolean;
  tasks: Array<{ system: string; status: string; records: number; lastError: string | null }>;
  receipt: Record<string, unknown> | null;
}

async function optedInEverywhere() {
  const hs = h.hubspot.addContact({ mobilephone: PHONE, firstname: 'Example', lastname: 'Person' });
  const sf = h.salesforce.add('Contact', { MobilePhone: PHONE, LastName: 'Person' });
  const lead = h.salesforce.add('Lead', { MobilePhone: PHONE, LastName: 'Person' });
  await h.request('/v1/consents', {
    method: 'POST',
    role: 'intake',
    json: {
      phone: PHONE,
      purposes: ['marketing'],
      locale: 'en',
      evidence: { formUrl: 'https://shop.example/form' },
    },
  });
  await h.webhook(textMessage(WA, 'YES', { timestamp: ts() }));
  await h.settle();
  return { hs, sf, lead };
}

const erase = async (phone = PHONE) =>
  h.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone } });
const get = async (id: string) =>
  json<ErasureBody>(await h.request(`/v1/erasures/${id}`, { role: 'operator' }));

describe('erasure', () => {
  it('from the API reaches every system, shreds the person, keeps a tombstone and a receipt', async () => {
    h = await startCrmHarness();
    const { hs, sf, lead } = await optedInEverywhere();
    // Hold the dispatcher so the open request can be looked at before it completes.
    h.services.dispatcher.pause();
    const res = await erase();
    expect(res.status).toBe(202);
    const opened = await json<ErasureBody>(res);
    expect(opened).toMatchObject({ status: 'open', source: 'api', overdue: false });
    expect(Date.parse(opened.dueAt) - Date.parse(opened.receivedAt)).toBe(30 * 86_400_000);
    expect(opened.tasks.map((t) => `${t.system}:${t.status}`)).toEqual([
      'hubspot:pending',
      'local:pending',
      'salesforce:pending',
    ]);
    // From the request on, every send is refused.
    const send = await h.request('/v1/messages', {
      method: 'POST',
      role: 'operator',
      json: { phone: PHONE, purpose: 'marketing', text: 'Offers' },
    });
    expect(send.status).toBe(409);
    // A second request while it is open returns the same one.
    const again = await erase();
    expect(again.status).toBe(200);
    expect((await json<ErasureBody>(again)).id).toBe(opened.id);

    await h.services.dispatcher.resume();
    await h.settle();
    // HubSpot's privacyDeletion + deletion webhooks for our own GDPR delete were delivered and open nothing new.
    expect(h.hubspot.deliveries.filter((d) => d.status === 200).length).toBeGreaterThan(0);
    const done = await get(opened.id);
    expect(done.status).toBe('completed');
    expect(done.tasks.map((t) => `${t.system}:${t.status}:${t.records}`)).toEqual([
      'hubspot:done:1',
      'local:done:1',
      'salesforce:done:2',
    ]);
    expect(h.hubspot.getContact(hs)).toBeNull();
    expect(h.salesforce.get('Contact', sf)).toBeNull();
    expect(h.salesforce.get('Lead', lead)).toBeNull();
    const list = await json<{ erasures: ErasureBody[] }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(list.erasures).toHaveLength(1);

    // The receipt: no personal data, every system's outcome.
    const receipt = await h.request(`/v1/erasures/${opened.id}/receipt`, { role: 'operator' });
    expect(receipt.status).toBe(200);
    expect(receipt.headers.get('content-disposition')).toContain('attachment');
    const body = await receipt.text();
    expect(body).not.toContain(WA);
    expect(JSON.parse(body)).toMatchObject({
      requestId: opened.id,
      subject: opened.subject,
      withinDeadline: true,
    });

    // The ledger still verifies, and records the erasure; nothing readable is left in the file.
    const verify = await json<{ ok: boolean }>(await h.request('/v1/ledger/verify', { role: 'auditor' }));
    expect(verify.ok).toBe(true);
    const subjectId = (await h.services.store.findSubjectByHash(opened.subject))?.id as string;
    const events = await h.services.store.listEvents(subjectId);
    expect(events.at(-1)?.action).toBe('erased');
    const bytes = readFileSync(h.dbPath).toString('latin1') + readWal();
    for (const needle of [WA, 'shop.example', 'Example']) expect(bytes).not.toContain(needle);
    expect(await h.services.history.events).toBeDefined();
    const history = await json<{ events: unknown[] }>(
      await h.request(`/v1/subjects/${P}/history`, { role: 'auditor' }),
    );
    expect(history.events).toEqual([]);
  });

  it('after erasure a WhatsApp message or a CRM webhook re-creates nothing, and sends are refused', async () => {
    h = await startCrmHarness();
    await optedInEverywhere();
    const { id } = await json<ErasureBody>(await erase());
    await h.settle();
    expect((await get(id)).status).toBe('completed');
    // The person writes again, and someone re-adds them in HubSpot and ticks an opt-in in Salesforce.
    const r = await h.webhook(textMessage(WA, 'START', { timestamp: ts() }));
    expect(r.status).toBe(200);
    const hs = h.hubspot.addContact({ mobilephone: PHONE });
    h.hubspot.updateFromUi(hs, { whatsapp_marketing_consent: 'granted' });
    await h.hubspot.flushWebhooks();
    const flow = await h.salesforce.flowCallout(`${h.url}/webhooks/salesforce`, SALESFORCE.webhookSecret, {
      events: [
        {
          id: 'flow-after-erasure',
          objectType: 'Contact',
          recordId: '0035e000000ZZZZAAA',
          occurredAt: new Date().toISOString(),
          fields: { WhatsApp_Marketing_Consent__c: 'Opted In', MobilePhone: PHONE },
        },
      ],
    });
    expect(flow.status).toBe(200);
    await h.settle();
    expect(h.graph.sent().filter((m) => m.to === PHONE)).toHaveLength(2); // the DOI request and confirmation before
    // An intake key (public web form) is told nothing (finding 5); an admin sees why nothing happens.
    const consent = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    expect(consent.status).toBe(202);
    expect(await json(consent)).toEqual({ status: 'accepted', purposes: ['marketing'] });
    const asAdmin = await h.request('/v1/consents', {
      method: 'POST',
      role: 'admin',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    expect(asAdmin.status).toBe(409);
    expect((await json<{ error: { code: string } }>(asAdmin)).error.code).toBe('ERASED');
    const state = await json<{ known: boolean; erased: boolean }>(
      await h.request(`/v1/subjects/${P}`, { role: 'operator' }),
    );
    expect(state).toMatchObject({ known: false, erased: true });
    // A reconciliation does not look the erased person up again.
    const reports = await h.services.reconcile();
    expect(reports.map((x) => x.people)).toEqual([0, 0]);
  });

  it("HubSpot's privacyDeletion opens an erasure that reaches Salesforce and the local store", async () => {
    h = await startCrmHarness();
    const { hs, sf } = await optedInEverywhere();
    h.hubspot.gdprDeleteFromUi(hs);
    expect(await h.hubspot.flushWebhooks()).toEqual([200]);
    // Redelivered: still one request.
    const list = await json<{ erasures: ErasureBody[] }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(list.erasures.map((e) => e.source)).toEqual(['hubspot']);
    await h.settle();
    const e = await get(list.erasures[0]?.id as string);
    expect(e.status).toBe('completed');
    expect(e.tasks.map((t) => `${t.system}:${t.status}`)).toEqual([
      'hubspot:not_found',
      'local:done',
      'salesforce:done',
    ]);
    expect(h.salesforce.get('Contact', sf)).toBeNull();
  });

  it('a Salesforce "should forget" Flow callout opens an erasure; redelivery stays one request', async () => {
    h = await startCrmHarness();
    const { hs, sf } = await optedInEverywhere();
    const body = {
      events: [
        {
          id: 'forget-1',
          type: 'should_forget',
          objectType: 'Contact',
          recordId: sf,
          occurredAt: new Date().toISOString(),
          fields: {},
        },
      ],
    };
    for (let i = 0; i < 2; i++) {
      const r = await h.salesforce.flowCallout(
        `${h.url}/webhooks/salesforce`,
        SALESFORCE.webhookSecret,
        body,
      );
      expect(r.status).toBe(200);
    }
    const list = await json<{ erasures: ErasureBody[] }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(list.erasures.map((e) => e.source)).toEqual(['salesforce']);
    await h.settle();
    expect(h.hubspot.getContact(hs)).toBeNull();
    expect((await get(list.erasures[0]?.id as string)).status).toBe('completed');
  });

  it('on WhatsApp: LÖSCHEN is answered with a question, and only its confirming button erases', async () => {
    h = await startCrmHarness();
    const { hs } = await optedInEverywhere();
    h.graph.reset();
    await h.webhook(textMessage(WA, 'Löschen', { timestamp: ts() }));
    await h.settle();
    const [question] = h.graph.sent();
    expect(question?.type).toBe('interactive');
    expect(JSON.stringify(question?.interactive)).toContain('ERASURE_CONFIRM');
    // A confirm button that answers some other message does nothing.
    await h.webhook(interactiveReply(WA, 'ERASURE_CONFIRM', 'Ja, löschen', { timestamp: ts() }));
    expect(
      (await json<{ erasures: unknown[] }>(await h.request('/v1/erasures', { role: 'operator' }))).erasures,
    ).toEqual([]);
    // Cancel does nothing either.
    await h.webhook(
      interactiveReply(WA, 'ERASURE_CANCEL', 'Abbrechen', {
        timestamp: ts(),
        contextId: question?.id as string,
      }),
    );
    expect(
      (await json<{ erasures: unknown[] }>(await h.request('/v1/erasures', { role: 'operator' }))).erasures,
    ).toEqual([]);
    const confirm = interactiveReply(WA, 'ERASURE_CONFIRM', 'Ja, löschen', {
      timestamp: ts(),
      contextId: question?.id as string,
    });
    expect((await h.webhook(confirm)).status).toBe(200);
    expect((await h.webhook(confirm)).status).toBe(200); // redelivered
    const list = await json<{ erasures: ErasureBody[] }>(
      await h.request('/v1/erasures', { role: 'operator' }),
    );
    expect(list.erasures.map((e) => e.source)).toEqual(['whatsapp']);
    await h.settle();
    expect((await get(list.erasures[0]?.id as string)).status).toBe('completed');
    expect(h.hubspot.getContact(hs)).toBeNull();
  });

  it('a CRM that is down finishes its task when it is back; one missing the person ends not_found', async () => {
    h = await startCrmHarness({ attempts: 1 });
    const hs = h.hubspot.addContact({ mobilephone: PHONE });
    await h.webhook(textMessage(WA, 'STOP', { timestamp: ts() }));
    await h.settle();
    // HubSpot answers 502 five times in a row: the task stays pending with its error, then finishes.
    h.hubspot.failNext(5, '502');
    const { id } = await json<ErasureBody>(await erase());
    await h.settle();
    const e = await get(id);
    expect(e.status).toBe('completed');
    expect(e.tasks.map((t) => `${t.system}:${t.status}`)).toEqual([
      'hubspot:done',
      'local:done',
      'salesforce:not_found',
    ]);
    const jobs = await h.services.store.listJobs({ kind: 'erasure.hubspot', limit: 10 });
    expect(jobs.map((j) => [j.status, j.attempts])).toEqual([['done', 6]]);
    expect(jobs[0]?.lastError).toMatch(/502|SERVER/);
    expect(h.hubspot.getContact(hs)).toBeNull();
  });

  it('flags overdue requests in the API and the list', async () => {
    h = await startCrmHarness();
    h.hubspot.failNext(1000, '502');
    const { id } = await json<ErasureBody>(await erase());
    h.advance(31 * 86_400_000);
    const e = await get(id);
    expect(e).toMatchObject({ status: 'open', overdue: true });
    const list = await json<{ erasures: ErasureBody[]; overdue: number }>(
      await h.request('/v1/erasures?overdue=true', { role: 'operator' }),
    );
    expect(list.overdue).toBe(1);
    expect(list.erasures.map((x) => x.id)).toEqual([id]);
    const report = await h.services.purgeExpired();
    expect(report.overdueErasures).toBe(1);
    expect(h.logs.some((l) => l.includes('erasures overdue'))).toBe(true);
  });
});

describe('crypto-shredding leaves nothing in the SQLite files (issue 14, item 6)', () => {
  it("neither the wrapped key nor the number's ciphertext is in the database, -wal or -shm after an erasure", async () => {
    h = await startCrmHarness();
    await optedInEverywhere();
    const subject = await h.services.store.findSubjectByHash(await h.services.subjects.hash(PHONE));
    const secrets = [subject?.dekWrapped, subject?.phoneEnc].filter((s): s is string => !!s);
    expect(secrets).toHaveLength(2);
    // Each as stored (base64 text) and as raw bytes, and any 16-byte piece of either: a shred that
    // leaves part of a value behind (a new, shorter cell written over the old one's tail) still fails.
    const pieces = (b: Buffer) =>
      Array.from({ length: Math.max(1, b.length - 15) }, (_, i) => b.subarray(i, i + 16));
    const forms = (s: string) => [...pieces(Buffer.from(s, 'latin1')), ...pieces(Buffer.from(s, 'base64'))];
    const files = () =>
      ['', '-wal', '-shm'].map((suffix) => {
        try {
          return readFileSync(`${h.dbPath}${suffix}`);
        } catch {
          return Buffer.alloc(0);
        }
      });
    /** How many of the two are in some file, in either form. */
    const found = () => {
      const bytes = files();
      return secrets.filter((s) => forms(s).some((n) => bytes.some((f) => f.includes(n)))).length;
    };
    // The check can see them: before the erasure both are there.
    expect(found()).toBe(2);
    // A passive checkpoint (what the checkpointer thread runs once the WAL grows) copies them into the
    // database file too, and leaves the WAL as it was: now they are in both files. Without
    // secure_delete the shred would leave their bytes in the page's free space in the database file;
    // without emptying the WAL its old page images would keep them.
    const other = new DatabaseSync(h.dbPath);
    const cp = other.prepare('PRAGMA wal_checkpoint(PASSIVE)').get() as { log: number; checkpointed: number };
    other.close();
    expect(cp.log).toBeGreaterThan(0);
    expect(cp.checkpointed).toBe(cp.log);
    expect(found()).toBe(2);

    const { id } = await json<ErasureBody>(await erase());
    await h.settle();
    expect((await get(id)).status).toBe('completed');
    expect((await h.services.store.getSubject(subject!.id))?.dekWrapped).toBeNull();
    expect(found()).toBe(0);
  });
});

describe('access export (Art. 15)', () => {
  it('returns everything held about a person, and only the tombstone and receipt after erasure', async () => {
    h = await startCrmHarness();
    const { hs } = await optedInEverywhere();
    // The export carries the decrypted evidence only auditors may read (finding 7): auditor, not operator.
    const refused = await h.request(`/v1/subjects/${P}/export`, { role: 'operator' });
    expect(refused.status).toBe(403);
    const refusal = await refused.text();
    expect(JSON.parse(refusal)).toMatchObject({ error: { code: 'FORBIDDEN' } });
    const res = await h.request(`/v1/subjects/${P}/export`, { role: 'auditor' });
    expect(res.status).toBe(200);
    const doc = await json<
      Record<string, unknown> & {
        person: { phone: string };
        ledger: unknown[];
        recipients: Array<{ system: string; record: { id: string }; lastWritten: unknown[] }>;
      }
    >(res);
    expect(doc.person.phone).toBe(PHONE);
    expect(doc.purposes).toMatchObject({ marketing: { status: 'opted_in' } });
    expect(doc.ledger.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(doc.ledger)).toContain('shop.example/form');
    expect(doc.recipients.map((r) => r.system).sort()).toEqual(['hubspot', 'salesforce', 'salesforce']);
    expect(doc.recipients.find((r) => r.system === 'hubspot')?.record.id).toBe(hs);
    expect(doc.recipients[0]?.lastWritten.length).toBeGreaterThan(0);
    expect(refusal).not.toContain('shop.example');
    const audited = (await h.services.store.listAudit(20)).filter((a) => a.action === 'subject.export');
    expect(audited.map((a) => a.role)).toEqual(['auditor']);

    const { id } = await json<ErasureBody>(await erase());
    await h.settle();
    const after = await json<Record<string, unknown>>(
      await h.request(`/v1/subjects/${P}/export`, { role: 'auditor' }),
    );
    expect(after).toMatchObject({ erased: true, tombstone: { erasureId: id } });
    expect(after).not.toHaveProperty('ledger');
    expect(after).not.toHaveProperty('person');
    expect((after.erasures as Array<{ receipt: unknown }>)[0]?.receipt).toMatchObject({ requestId: id });
  });
});

describe('retention and erasure together', () => {
  it('an erasure after retention shredded the number still finds the person in the CRMs by the number given', async () => {
    h = await startCrmHarness();
    const hs = h.hubspot.addContact({ mobilephone: PHONE });
    h.services.dispatcher.pause(); // no sync: the CRM never hears of the unconfirmed request
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    h.advance(4 * 86_400_000);
    await h.services.expirePending();
    h.advance(40 * 86_400_000);
    expect((await h.services.purgeExpired()).unconfirmedPeople).toBe(1);
    await h.services.dispatcher.resume();
    const { id } = await json<ErasureBody>(await erase());
    await h.settle();
    const e = await get(id);
    expect(e.tasks.map((t) => `${t.system}:${t.status}`)).toEqual([
      'hubspot:done',
      'local:done',
      'salesforce:not_found',
    ]);
    expect(h.hubspot.getContact(hs)).toBeNull();
  });
});

describe('retention', () => {
  it('purges finished jobs, dedupe keys and message ids, and shreds long-expired unconfirmed requests', async () => {
    h = await startCrmHarness({ enable: [] });
    await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    await h.webhook(textMessage('4915123400502', 'STOP', { timestamp: ts() }));
    await h.drain();
    h.advance(4 * 86_400_000);
    await h.services.expirePending();
    h.advance(100 * 86_400_000);
    const report = await h.services.purgeExpired();
    expect(report.unconfirmedPeople).toBe(1);
    expect(report.finishedJobs).toBeGreaterThanOrEqual(2);
    expect(report.inboundDedupe).toBeGreaterThanOrEqual(1);
    expect(report.sentMessages).toBeGreaterThanOrEqual(1);
    // The opt-out is kept (it proves the STOP and keeps it honoured); the unconfirmed number is gone.
    const stop = await json<{ known: boolean; purposes: Record<string, { status: string }> }>(
      await h.request('/v1/subjects/4915123400502', { role: 'operator' }),
    );
    expect(stop.purposes.marketing?.status).toBe('opted_out');
    expect(
      (await json<{ known: boolean }>(await h.request(`/v1/subjects/${P}`, { role: 'operator' }))).known,
    ).toBe(false);
    expect(h.logs.join('\n')).not.toContain(WA);
    // Asked again later, the same person can be: a new key for the same row.
    const again = await h.request('/v1/consents', {
      method: 'POST',
      role: 'intake',
      json: { phone: PHONE, purposes: ['marketing'] },
    });
    expect(again.status).toBe(202);
  });
});

function readWal(): string {
  try {
    return readFileSync(`${h.dbPath}-wal`).toString('latin1');
  } catch {
    return '';
  }
}
