/**
 * One list of end-to-end scenarios that runs on both runtimes (Node over SQLite, Workers over D1
 * inside workerd), so the two cannot drift. Each runtime supplies a driver; the scenarios use only
 * what both can do: HTTP requests with a role, signed WhatsApp webhooks, running the outbox, and
 * the messages the Graph API simulator received.
 */
import { expect } from 'vitest';
import { textMessage, type WebhookChange } from './helpers/whatsapp.ts';

export type ScenarioRole = 'admin' | 'operator' | 'auditor' | 'intake';

export interface ScenarioDriver {
  request(path: string, init?: { method?: string; role?: ScenarioRole; json?: unknown }): Promise<Response>;
  webhook(...changes: WebhookChange[]): Promise<Response>;
  /** runs the outbox until nothing is due (Node: the dispatcher; Workers: the queue consumer) */
  drain(): Promise<void>;
  /** messages the Graph API simulator accepted so far */
  sent(): Promise<Array<{ to: string; type: string }>>;
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
  (await d.sent()).filter((m) => m.to.replace(/\D/g, '') === e164.slice(1));

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
];
