import { describe, expect, it } from 'vitest';
import { type HubSpotWebhookEvent, makeHubSpotEvent } from '../../test/sim/hubspot.ts';
import type { LookupSpec } from '../types.ts';
import { parseHubSpotWebhook } from './webhook.ts';

const SPEC: LookupSpec = {
  objectTypes: ['contact'],
  matchField: 'hs_whatsapp_phone_number',
  properties: ['whatsapp_opted_out', 'whatsapp_marketing_consent'],
};
const AT = 1_708_986_598_741;
const PHONE = '+447700900001'; // example number (UK drama range)

const change = (fields: Partial<HubSpotWebhookEvent> = {}) =>
  makeHubSpotEvent({
    subscriptionType: 'contact.propertyChange',
    objectId: 65_059_681_032,
    eventId: 100,
    subscriptionId: 234_567,
    occurredAt: AT,
    propertyName: 'whatsapp_opted_out',
    propertyValue: 'true',
    changeSource: 'CRM_UI',
    sourceId: 'userId:45678',
    ...fields,
  });
const parse = (events: unknown) => parseHubSpotWebhook(JSON.stringify(events), SPEC);

describe('parseHubSpotWebhook', () => {
  it('turns a whitelisted property change into one change, value kept as sent', () => {
    expect(parse([change()])).toEqual({
      ok: true,
      changes: [
        {
          eventId: '234567:100:1708986598741:65059681032:whatsapp_opted_out',
          type: 'property_change',
          ref: { objectType: 'contact', id: '65059681032' },
          occurredAt: '2024-02-26T22:29:58.741Z',
          properties: { whatsapp_opted_out: 'true' },
          matchValue: null,
          changeSource: 'CRM_UI',
        },
      ],
      ack: { status: 200, contentType: 'application/json', body: '{"ok":true}' },
    });
  });

  it('drops changes of other properties, values included', () => {
    const parsed = parse([change({ propertyName: 'firstname', propertyValue: 'Example Person' })]);
    expect(parsed).toMatchObject({ ok: true, changes: [] });
    expect(JSON.stringify(parsed)).not.toContain('Example Person');
  });

  it('reports a change of the match field as matchValue', () => {
    const parsed = parse([change({ propertyName: SPEC.matchField, propertyValue: PHONE })]);
    expect(parsed).toMatchObject({
      ok: true,
      changes: [{ type: 'property_change', properties: {}, matchValue: PHONE }],
    }); // example number
  });

  it('maps privacyDeletion and deletion, and ignores other subscription types', () => {
    const base = { objectId: 512, occurredAt: AT };
    const parsed = parse([
      makeHubSpotEvent({ ...base, subscriptionType: 'contact.privacyDeletion' }),
      makeHubSpotEvent({ ...base, subscriptionType: 'contact.deletion', changeFlag: 'DELETED' }),
      makeHubSpotEvent({ ...base, subscriptionType: 'contact.creation', changeFlag: 'CREATED' }),
      makeHubSpotEvent({
        ...base,
        subscriptionType: 'company.propertyChange',
        propertyName: 'whatsapp_opted_out',
      }),
    ]);
    expect(parsed.ok && parsed.changes.map((c) => [c.type, c.ref.id, c.properties, c.changeSource])).toEqual([
      ['privacy_deletion', '512', {}, null],
      ['deletion', '512', {}, null],
    ]);
  });

  it('builds eventId from subscription, event, time and object: redeliveries collide, the rest do not', () => {
    const ids = (events: HubSpotWebhookEvent[]) => {
      const parsed = parse(events);
      return parsed.ok ? parsed.changes.map((c) => c.eventId) : [];
    };
    const [first, redelivered, otherSubscription, otherObject, otherTime] = ids([
      change(),
      change({ attemptNumber: 3 }),
      change({ subscriptionId: 234_568 }),
      change({ objectId: 513 }),
      change({ occurredAt: AT + 1 }),
    ]);
    expect(redelivered).toBe(first);
    expect(new Set([first, otherSubscription, otherObject, otherTime]).size).toBe(4);
  });

  it('keeps enum-like change sources only, and tolerates missing optional fields', () => {
    const { changeSource: _omit, ...noSource } = change();
    const parsed = parse([
      change({ changeSource: 'Edited by Example Person' }),
      noSource,
      change({ propertyValue: '' }),
    ]);
    expect(parsed.ok && parsed.changes.map((c) => [c.changeSource, c.properties.whatsapp_opted_out])).toEqual(
      [
        [null, 'true'],
        [null, 'true'],
        ['CRM_UI', ''],
      ],
    );
  });

  it('answers 400 INVALID_PAYLOAD for anything but an array of events, naming paths, not values', () => {
    const cases: unknown[] = [
      { not: 'an array' },
      [change({ occurredAt: 'yesterday' as unknown as number })],
      [{ ...change(), objectId: PHONE }],
      [{ ...change(), propertyName: undefined }],
      ['x'],
    ];
    for (const body of cases) {
      const parsed = parse(body);
      expect(parsed).toMatchObject({
        ok: false,
        status: 400,
        code: 'INVALID_PAYLOAD',
        reply: { status: 400 },
      });
      if (!parsed.ok) {
        expect(parsed.message).not.toContain(PHONE.slice(3, 9));
        expect(parsed.message).not.toContain('yesterday');
      }
    }
    expect(parseHubSpotWebhook('[{"eventId":', SPEC)).toMatchObject({ ok: false, status: 400 });
    expect(parse([])).toMatchObject({ ok: true, changes: [] });
  });
});
