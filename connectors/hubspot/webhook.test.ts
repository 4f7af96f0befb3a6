import { describe, expect, it } from 'vitest';
import { type HubSpotWebhookEvent, makeHubSpotEvent } from '../../test/sim/hubspot.ts';
import type { LookupSpec } from '../types.ts';
import { MAX_EVENTS, parseHubSpotWebhook } from './webhook.ts';

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
      skipped: [],
      ignored: 0,
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
    const base = { occurredAt: AT };
    const parsed = parse([
      makeHubSpotEvent({ ...base, objectId: 512, subscriptionType: 'contact.privacyDeletion' }),
      makeHubSpotEvent({
        ...base,
        objectId: 513,
        subscriptionType: 'contact.deletion',
        changeFlag: 'DELETED',
      }),
      makeHubSpotEvent({
        ...base,
        objectId: 512,
        subscriptionType: 'contact.creation',
        changeFlag: 'CREATED',
      }),
      makeHubSpotEvent({
        ...base,
        objectId: 512,
        subscriptionType: 'company.propertyChange',
        propertyName: 'whatsapp_opted_out',
      }),
    ]);
    expect(parsed.ok && parsed.changes.map((c) => [c.type, c.ref.id, c.properties, c.changeSource])).toEqual([
      ['privacy_deletion', '512', {}, null],
      ['deletion', '513', {}, null],
    ]);
    expect(parsed).toMatchObject({ skipped: [], ignored: 2 });
  });

  it('a GDPR delete (privacyDeletion + deletion of one contact) yields the privacy deletion only, in either order', () => {
    // Acting on the deletion would unlink the record and leave the privacy deletion nobody to erase.
    for (const order of [
      ['contact.privacyDeletion', 'contact.deletion'],
      ['contact.deletion', 'contact.privacyDeletion'],
    ]) {
      const parsed = parse(
        order.map((subscriptionType) =>
          makeHubSpotEvent({ subscriptionType, objectId: 512, occurredAt: AT }),
        ),
      );
      expect(parsed.ok && parsed.changes.map((c) => [c.type, c.ref.id])).toEqual([
        ['privacy_deletion', '512'],
      ]);
      expect(parsed).toMatchObject({ skipped: [], ignored: 1 });
    }
  });

  it('reads legacy events that name their type eventType', () => {
    const { subscriptionType: _t, ...legacy } = change();
    const parsed = parse([{ ...legacy, eventType: 'contact.propertyChange' }]);
    expect(parsed).toMatchObject({
      ok: true,
      changes: [{ type: 'property_change', properties: { whatsapp_opted_out: 'true' } }],
      skipped: [],
    });
    // Both present: subscriptionType is the one read.
    const both = parse([{ ...change(), eventType: 'contact.deletion' }]);
    expect(both).toMatchObject({ ok: true, changes: [{ type: 'property_change' }] });
  });

  it('reads generic object.* events of contacts (objectTypeId 0-1) and ignores other object types', () => {
    const generic = (fields: Record<string, unknown>) => ({ ...change(), ...fields });
    const parsed = parse([
      generic({ subscriptionType: 'object.propertyChange', objectTypeId: '0-1' }),
      generic({
        subscriptionType: 'object.deletion',
        objectTypeId: '0-1',
        objectId: 513,
        propertyName: undefined,
      }),
      generic({ subscriptionType: 'object.creation', objectTypeId: '0-1', objectId: 514 }),
      generic({ subscriptionType: 'object.propertyChange', objectTypeId: '0-2' }),
      generic({ subscriptionType: 'object.propertyChange', objectTypeId: '2-123456' }),
    ]);
    expect(parsed.ok && parsed.changes.map((c) => [c.type, c.ref, c.properties])).toEqual([
      ['property_change', { objectType: 'contact', id: '65059681032' }, { whatsapp_opted_out: 'true' }],
      ['deletion', { objectType: 'contact', id: '513' }, {}],
    ]);
    expect(parsed).toMatchObject({ skipped: [], ignored: 3 });
  });

  it('counts association changes as ignored, not skipped: they carry no objectId', () => {
    const association = {
      eventId: 300,
      subscriptionId: 234_600,
      portalId: 12_345_678,
      appId: 987_654,
      occurredAt: AT,
      attemptNumber: 0,
      associationType: 'CONTACT_TO_COMPANY',
      fromObjectId: 65_059_681_032,
      toObjectId: 9_000_001,
      associationRemoved: false,
      isPrimaryAssociation: false,
    };
    const parsed = parse([
      { ...association, subscriptionType: 'contact.associationChange' },
      {
        ...association,
        subscriptionType: 'object.associationChange',
        fromObjectTypeId: '0-1',
        toObjectTypeId: '0-2',
      },
      change(),
    ]);
    expect(parsed).toMatchObject({ ok: true, skipped: [], ignored: 2 });
    expect(parsed.ok && parsed.changes).toHaveLength(1);
  });

  it('skips an unreadable event, keeps it with a reason naming the path, and reads the rest (rule 8)', () => {
    const noObject = { ...change(), objectId: undefined };
    const phoneAsId = { ...change(), objectId: PHONE };
    const noType = { ...change(), subscriptionType: undefined };
    const genericWithoutType = { ...change(), subscriptionType: 'object.propertyChange' };
    const parsed = parse([
      noObject,
      change({ eventId: 101 }),
      phoneAsId,
      'x',
      noType,
      genericWithoutType,
      [1],
    ]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.changes.map((c) => c.eventId)).toEqual([
      '234567:101:1708986598741:65059681032:whatsapp_opted_out',
    ]);
    expect(parsed.skipped.map((k) => k.reason)).toEqual([
      '[0].objectId: expected a numeric id',
      '[2].objectId: expected a numeric id',
      '[3]: expected an object',
      '[4].subscriptionType: expected a string (or eventType)',
      '[5].objectTypeId: expected an object type id such as "0-1"',
      '[6]: expected an object',
    ]);
    expect(parsed.skipped.every((k) => k.source === 'hubspot' && k.kind === 'event')).toBe(true);
    expect(parsed.skipped[1]?.raw).toEqual(JSON.parse(JSON.stringify(phoneAsId)));
    expect(parsed.skipped.map((k) => k.reason).join(' ')).not.toContain(PHONE.slice(3, 9));
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
    const cases: unknown[] = [{ not: 'an array' }, 'x', 42, null];
    for (const body of cases) {
      const parsed = parse(body);
      expect(parsed).toMatchObject({
        ok: false,
        status: 400,
        code: 'INVALID_PAYLOAD',
        reply: { status: 400 },
      });
      if (!parsed.ok) expect(parsed.message).not.toContain('an array"');
    }
    expect(parseHubSpotWebhook('[{"eventId":', SPEC)).toMatchObject({ ok: false, status: 400 });
    expect(parse(Array.from({ length: MAX_EVENTS + 1 }, () => change()))).toMatchObject({
      ok: false,
      status: 400,
    });
    expect(parse([])).toMatchObject({ ok: true, changes: [], skipped: [] });
  });

  it('skips events with bad values without echoing them', () => {
    const parsed = parse([
      change({ occurredAt: 'yesterday' as unknown as number }),
      { ...change(), propertyName: undefined },
    ]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.changes).toEqual([]);
    expect(parsed.skipped.map((k) => k.reason)).toEqual([
      '[0].occurredAt: expected ms since epoch (a non-negative integer)',
      '[1].propertyName: expected a string for a property change',
    ]);
    expect(JSON.stringify(parsed.skipped.map((k) => k.reason))).not.toContain('yesterday');
  });
});
