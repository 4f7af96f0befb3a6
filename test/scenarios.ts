/**
 * One list of end-to-end scenarios that runs on both runtimes (Node over SQLite, Workers over D1
 * inside workerd), so the two cannot drift. Each runtime supplies a driver; the scenarios use only
 * what both can do: HTTP requests with a role, signed WhatsApp webhooks, running the outbox, and
 * the messages the Graph API simulator received.
 */
import { expect } from 'vitest';
import { normalizePhone } from '../src/core/phone.ts';
import {
  numberChange,
  statusUpdate,
  textMessage,
  userPreference,
  type WebhookChange,
} from './helpers/whatsapp.ts';

export type ScenarioRole = 'admin' | 'operator' | 'auditor' | 'intake';

export interface ScenarioDriver {
  request(path: string, init?: { method?: string; role?: ScenarioRole; json?: unknown }): Promise<Response>;
  webhook(...changes: WebhookChange[]): Promise<Response>;
  /** runs the outbox until nothing is due (Node: the dispatcher; Workers: the queue consumer) */
  drain(): Promise<void>;
  /** messages the Graph API simulator accepted so far */
  sent(): Promise<Array<{ to: string; type: string; recipient?: string }>>;
  /** the HubSpot simulator the service syncs with */
  hubspot: {
    addContact(properties: Record<string, string>): Promise<string>;
    getContact(id: string): Promise<Record<string, string> | null>;
  };
}

export interface Scenario {
  name: string;
  /** `n` makes the scenario's numbers unique per runtime (the Graph simulator may be shared) */
  run(d: ScenarioDriver, n: number): Promise<void>;
}

const body = async <T>(res: Response): Promise<T> => (await res.json()) as T;
const phone = (n: number, i: number) => `+49151234${String(n).padStart(2, '0')}${String(i).padStart(3, '0')}`; // fictitious example numbers
const states = async (d: ScenarioDriver, e164: string) =>
  await body<{ known: boolean; erased?: boolean; purposes: Record<string, { status: string }> }>(
    await d.request(`/v1/subjects/${encodeURIComponent(e164)}`, { role: 'operator' }),
  );
const sentTo = async (d: ScenarioDriver, e164: string) =>
  (await d.sent()).filter((m) => !m.recipient && m.to.replace(/\D/g, '') === e164.slice(1));
/** A fictitious business-scoped user id (BSUID), unique per runtime and scenario. */
const bsuid = (n: number, i: number) =>
  `DE.7${String(n).padStart(3, '0')}${String(i).padStart(3, '0')}000000000000`;
const sentToBsuid = async (d: ScenarioDriver, id: string) =>
  (await d.sent()).filter((m) => m.recipient === id);
const json = (res: Response) => body<Record<string, unknown>>(res);
const whoOf = (e164: string, userId: string) => ({ waId: e164.slice(1), userId });

export const SCENARIOS: Scenario[] = [
  {
    name: 'double opt-in: a form request, the WhatsApp confirmation, a YES',
    async run(d, n) {
      const p = phone(n, 1);
      const res = await d.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: p, purposes: ['marketing'], locale: 'en' },
      });
      expect(res.status).toBe(202);
      expect((await states(d, p)).purposes.marketing?.status).toBe('pending');
      await d.drain();
      expect(await sentTo(d, p)).toHaveLength(1);
      expect((await d.webhook(textMessage(p.slice(1), 'YES'))).status).toBe(200);
      expect((await states(d, p)).purposes.marketing?.status).toBe('opted_in');
      await d.drain();
      expect(await sentTo(d, p)).toHaveLength(2);
    },
  },
  {
    name: 'STOP: stored before the answer, confirmed on WhatsApp, sent to HubSpot, sends refused',
    async run(d, n) {
      const p = phone(n, 2);
      const contact = await d.hubspot.addContact({ mobilephone: p, firstname: 'Example' });
      expect((await d.webhook(textMessage(p.slice(1), 'STOP'))).status).toBe(200);
      expect((await states(d, p)).purposes).toMatchObject({
        marketing: { status: 'opted_out' },
        transactional: { status: 'opted_out' },
      });
      await d.drain();
      expect(await sentTo(d, p)).toHaveLength(1);
      expect(await d.hubspot.getContact(contact)).toMatchObject({
        whatsapp_opted_out: 'true',
        whatsapp_marketing_consent: 'withdrawn',
        firstname: 'Example',
      });
      const send = await d.request('/v1/messages', {
        method: 'POST',
        role: 'operator',
        json: { phone: p, purpose: 'marketing', text: 'Offers' },
      });
      expect(send.status).toBe(409);
    },
  },
  {
    name: 'erasure: fanned out to HubSpot and local, a receipt, nothing re-created by a later message',
    async run(d, n) {
      const p = phone(n, 3);
      const contact = await d.hubspot.addContact({ mobilephone: p });
      await d.webhook(textMessage(p.slice(1), 'STOP'));
      await d.drain();
      const opened = await body<{ id: string; status: string }>(
        await d.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: p } }),
      );
      await d.drain();
      const done = await body<{
        status: string;
        tasks: Array<{ system: string; status: string }>;
        receipt: unknown;
      }>(await d.request(`/v1/erasures/${opened.id}`, { role: 'operator' }));
      expect(done.status).toBe('completed');
      expect(done.tasks.map((t) => `${t.system}:${t.status}`)).toEqual(['hubspot:done', 'local:done']);
      expect(await d.hubspot.getContact(contact)).toBeNull();
      expect(done.receipt).toMatchObject({ requestId: opened.id, withinDeadline: true });
      await d.webhook(textMessage(p.slice(1), 'START'));
      expect(await states(d, p)).toMatchObject({ known: false, erased: true });
      const verify = await body<{ ok: boolean }>(await d.request('/v1/ledger/verify', { role: 'auditor' }));
      expect(verify.ok).toBe(true);
    },
  },

  {
    name: 'identity: a person known only by a BSUID (number withheld) opts out and is answered by BSUID',
    async run(d, n) {
      const b = bsuid(n, 1);
      expect((await d.webhook(textMessage({ userId: b }, 'STOP'))).status).toBe(200);
      expect((await states(d, b)).purposes).toMatchObject({
        marketing: { status: 'opted_out' },
        transactional: { status: 'opted_out' },
      });
      await d.drain();
      expect(await sentToBsuid(d, b)).toHaveLength(1);
      const send = await d.request('/v1/messages', {
        method: 'POST',
        role: 'operator',
        json: { phone: b, purpose: 'marketing', text: 'Offers' },
      });
      expect(send.status).toBe(409);
    },
  },
  {
    name: 'identity: first seen with number and BSUID, a BSUID-only STOP is found by the number',
    async run(d, n) {
      const p = phone(n, 4);
      const b = bsuid(n, 4);
      await d.webhook(textMessage(whoOf(p, b), 'START'));
      expect((await states(d, p)).purposes.marketing?.status).toBe('pending');
      expect((await d.webhook(textMessage({ userId: b }, 'STOP'))).status).toBe(200);
      const byNumber = await states(d, p);
      expect(byNumber.purposes.marketing?.status).toBe('opted_out');
      expect(
        (byNumber as unknown as { identifiers: Array<{ kind: string }> }).identifiers
          .map((i) => i.kind)
          .sort(),
      ).toEqual(['bsuid', 'phone']);
    },
  },
  {
    name: 'identity: after user_changed_number consent stays with the person, the old number is never messaged',
    async run(d, n) {
      const p1 = phone(n, 5);
      const p2 = phone(n, 6);
      const b1 = bsuid(n, 5);
      const b2 = bsuid(n, 6);
      await d.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: p1, purposes: ['marketing'] },
      });
      await d.drain();
      await d.webhook(textMessage(whoOf(p1, b1), 'YES'));
      expect((await states(d, p1)).purposes.marketing?.status).toBe('opted_in');
      await d.drain();
      const before = (await sentTo(d, p1)).length;
      expect((await d.webhook(numberChange(whoOf(p1, b1), p2.slice(1), { newUserId: b2 }))).status).toBe(200);
      // Meta says it is the same WhatsApp user: their consent moves with them.
      expect((await states(d, p2)).purposes.marketing?.status).toBe('opted_in');
      expect((await states(d, b2)).purposes.marketing?.status).toBe('opted_in');
      const send = await d.request('/v1/messages', {
        method: 'POST',
        role: 'operator',
        json: { phone: p1, purpose: 'marketing', text: 'Offers' },
      });
      expect(send.status).toBe(200);
      expect(await sentTo(d, p2)).toHaveLength(1);
      expect(await sentTo(d, p1)).toHaveLength(before);
      const ids = (
        await json(await d.request(`/v1/subjects/${encodeURIComponent(p2)}`, { role: 'operator' }))
      ).identifiers as Array<{ kind: string; status: string }>;
      expect(ids.map((i) => `${i.kind}:${i.status}`).sort()).toEqual([
        'bsuid:active',
        'bsuid:former',
        'phone:active',
        'phone:former',
      ]);
      // The number change is on the ledger, with evidence.
      const history = await json(
        await d.request(`/v1/subjects/${encodeURIComponent(p2)}/history`, { role: 'auditor' }),
      );
      expect(
        (history.events as Array<{ evidence: { reason?: string } | null }>).some(
          (e) => e.evidence?.reason === 'number_changed',
        ),
      ).toBe(true);
    },
  },
  {
    name: 'identity: a 131050 status carrying only recipient_user_id opts the person out of marketing',
    async run(d, n) {
      const p = phone(n, 7);
      const b = bsuid(n, 7);
      await d.webhook(textMessage(whoOf(p, b), 'START'));
      expect(
        (await d.webhook(statusUpdate({ userId: b }, `wamid.SCEN${n}07`, 'failed', [131050]))).status,
      ).toBe(200);
      expect((await states(d, p)).purposes.marketing?.status).toBe('opted_out');
    },
  },
  {
    name: "identity: a STOP from a wa_id outside the phone library's ranges is honoured",
    async run(d, n) {
      const p = `+88610${String(n).padStart(3, '0')}123`;
      expect(normalizePhone(p).ok).toBe(false); // libphonenumber refuses it; Meta sent it
      expect((await d.webhook(textMessage(p.slice(1), 'STOP'))).status).toBe(200);
      expect((await states(d, p)).purposes.marketing?.status).toBe('opted_out');
      expect((await states(d, p.slice(1))).purposes.marketing?.status).toBe('opted_out');
    },
  },
  {
    name: 'identity: an erased person writing again under a BSUID only re-creates nothing',
    async run(d, n) {
      const p = phone(n, 8);
      const b = bsuid(n, 8);
      await d.webhook(textMessage(whoOf(p, b), 'STOP'));
      await d.drain();
      const opened = await json(
        await d.request('/v1/erasures', { method: 'POST', role: 'operator', json: { phone: p } }),
      );
      await d.drain();
      expect((await json(await d.request(`/v1/erasures/${opened.id}`, { role: 'operator' }))).status).toBe(
        'completed',
      );
      const sentBefore = (await d.sent()).length;
      expect((await d.webhook(textMessage({ userId: b }, 'START'))).status).toBe(200);
      await d.drain();
      expect(await states(d, b)).toMatchObject({ known: false, erased: true });
      expect((await d.sent()).length).toBe(sentBefore);
    },
  },
  {
    name: 'identity: one person in two records is merged, the less permissive state winning per purpose',
    async run(d, n) {
      const p = phone(n, 9);
      const b = bsuid(n, 9);
      // Record 1: the number, opted in to marketing by double opt-in.
      await d.request('/v1/consents', {
        method: 'POST',
        role: 'intake',
        json: { phone: p, purposes: ['marketing'] },
      });
      await d.drain();
      await d.webhook(textMessage(p.slice(1), 'YES'));
      expect((await states(d, p)).purposes.marketing?.status).toBe('opted_in');
      // Record 2: a BSUID-only user (number withheld) who said STOP.
      await d.webhook(textMessage({ userId: b }, 'STOP'));
      // Meta then names both together (a marketing "resume" is evidence only): one person.
      expect((await d.webhook(userPreference(whoOf(p, b), 'resume'))).status).toBe(200);
      for (const ref of [p, b]) {
        expect((await states(d, ref)).purposes).toMatchObject({
          marketing: { status: 'opted_out' },
          transactional: { status: 'opted_out' },
        });
      }
      const history = await json(
        await d.request(`/v1/subjects/${encodeURIComponent(p)}/history`, { role: 'auditor' }),
      );
      const actions = (history.events as Array<{ action: string; mergedFrom?: string }>).map((e) => e.action);
      expect(actions).toContain('merged');
      expect((history.events as Array<{ mergedFrom?: string }>).some((e) => e.mergedFrom)).toBe(true);
      const verify = await json(await d.request('/v1/ledger/verify', { role: 'auditor' }));
      expect(verify.ok).toBe(true);
    },
  },
  {
    name: 'reply throttle: many STOPs from one person, in one delivery and the next, get one confirmation',
    async run(d, n) {
      const p = phone(n, 30);
      const stops = (k: number) => Array.from({ length: k }, () => textMessage(p.slice(1), 'STOP'));
      expect((await d.webhook(...stops(20))).status).toBe(200);
      expect((await d.webhook(...stops(5))).status).toBe(200);
      await d.drain();
      expect(await sentTo(d, p)).toHaveLength(1);
      expect((await states(d, p)).purposes.marketing?.status).toBe('opted_out');
      // Every STOP is kept in the ledger, and the chain verifies.
      const history = await body<{ events: Array<{ action: string }> }>(
        await d.request(`/v1/subjects/${encodeURIComponent(p)}/history`, { role: 'auditor' }),
      );
      expect(history.events.length).toBeGreaterThanOrEqual(25);
      // One state change per purpose; every repeated STOP is evidence, not a new opt-out.
      const purposes = Object.keys((await states(d, p)).purposes).length;
      const actions = history.events.map((e) => e.action);
      expect(actions.filter((a) => a === 'opted_out')).toHaveLength(purposes);
      expect(actions.filter((a) => a === 'evidence')).toHaveLength(24 * purposes);
      expect((await json(await d.request('/v1/ledger/verify', { role: 'auditor' }))).ok).toBe(true);
    },
  },
];
