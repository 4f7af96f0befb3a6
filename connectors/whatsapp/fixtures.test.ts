/**
 * The fixture corpus (test/fixtures/whatsapp/, one webhook body per documented shape, sources in
 * SOURCES.md): every file parses into exactly the events below, and every file has a SOURCES.md row.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type InboundEvent, parseWebhook } from './parse.ts';

const DIR = join(import.meta.dirname, '../../test/fixtures/whatsapp');
const AT = '2026-01-01T00:00:00.000Z';

const A = { phone: '+15550001234' };
const B_PHONE = '+15550005678';
const C = { phone: '+15550009012' };
const BA = 'US.7301946621058839401';
const BB = 'US.2284610937745120385';
const BC = 'US.9917203384455120776';
const PA = 'US.ENT.5520913377014482690';

const message = (
  waMessageId: string,
  who: InboundEvent['who'],
  content: unknown,
  contextId: string | null = null,
) => ({
  kind: 'message',
  waMessageId,
  who,
  occurredAt: AT,
  contextId,
  content,
});
const status = (waMessageId: string, who: InboundEvent['who'], s: string, errorCodes: number[] = []) => ({
  kind: 'status',
  waMessageId,
  who,
  status: s,
  occurredAt: AT,
  errorCodes,
});
const preference = (who: InboundEvent['who'], value: string, extra: object = {}) => ({
  kind: 'preference',
  who,
  value,
  category: 'marketing_messages',
  occurredAt: AT,
  ...extra,
});
const text = (body: string) => ({ type: 'text', body });
const other = (messageType: string) => ({ type: 'other', messageType });

/** What each fixture must parse into (`ignored` defaults to 0; no fixture has a skipped item). */
const EXPECTED: Record<string, { events: unknown[]; ignored?: number }> = {
  'message-text.json': {
    events: [message('wamid.FIXTURE.TEXT.0001', A, text('Does it come in another color?'))],
  },
  'message-text-bsuid-and-number.json': {
    events: [message('wamid.FIXTURE.TEXT.0002', { ...A, bsuid: BA }, text('STOP'))],
  },
  'message-text-bsuid-only.json': {
    events: [message('wamid.FIXTURE.TEXT.0003', { bsuid: BB }, text('STOP'))],
  },
  'message-text-parent-bsuid.json': {
    events: [message('wamid.FIXTURE.TEXT.0004', { bsuid: BC, parentBsuid: PA }, text('Unsubscribe'))],
  },
  'message-button.json': {
    events: [
      message(
        'wamid.FIXTURE.BUTTON.0001',
        { ...A, bsuid: BA },
        { type: 'button', payload: 'Unsubscribe', text: 'Unsubscribe' },
        'wamid.FIXTURE.SENT.0001',
      ),
    ],
  },
  'message-interactive-button-reply.json': {
    events: [
      message(
        'wamid.FIXTURE.INTERACTIVE.0001',
        A,
        { type: 'interactive', replyId: 'cancel-button', title: 'Cancel' },
        'wamid.FIXTURE.SENT.0002',
      ),
    ],
  },
  'message-interactive-list-reply.json': {
    events: [
      message(
        'wamid.FIXTURE.INTERACTIVE.0002',
        A,
        { type: 'interactive', replyId: 'priority_express', title: 'Priority Mail Express' },
        'wamid.FIXTURE.SENT.0003',
      ),
    ],
  },
  'message-interactive-flow-reply.json': {
    events: [message('wamid.FIXTURE.INTERACTIVE.0003', A, other('interactive'), 'wamid.FIXTURE.SENT.0004')],
  },
  'message-image.json': { events: [message('wamid.FIXTURE.IMAGE.0001', A, other('image'))] },
  'message-reaction.json': { events: [message('wamid.FIXTURE.REACTION.0001', A, other('reaction'))] },
  'message-unsupported.json': {
    events: [message('wamid.FIXTURE.UNSUPPORTED.0001', A, other('unsupported'))],
  },
  'message-system-user-changed-number.json': {
    events: [
      {
        kind: 'number_change',
        waMessageId: 'wamid.FIXTURE.SYSTEM.0001',
        who: { ...A, bsuid: BA },
        newPhone: B_PHONE,
        newBsuid: BB,
        occurredAt: AT,
      },
    ],
  },
  'message-system-user-changed-user-id.json': {
    events: [
      {
        kind: 'user_id_change',
        waMessageId: 'wamid.FIXTURE.SYSTEM.0002',
        who: { bsuid: BB, parentBsuid: PA },
        newBsuid: BC,
        occurredAt: AT,
      },
    ],
  },
  'status-sent.json': { events: [status('wamid.FIXTURE.SENT.0010', { ...A, bsuid: BA }, 'sent')] },
  'status-delivered.json': { events: [status('wamid.FIXTURE.SENT.0011', { ...A, bsuid: BA }, 'delivered')] },
  'status-read-bsuid-only.json': { events: [status('wamid.FIXTURE.SENT.0012', { bsuid: BB }, 'read')] },
  'status-delivered-parent-bsuid.json': {
    events: [status('wamid.FIXTURE.SENT.0013', { bsuid: BC, parentBsuid: PA }, 'delivered')],
  },
  'status-failed-131050.json': { events: [status('wamid.FIXTURE.SENT.0014', A, 'failed', [131050])] },
  'status-failed-131050-bsuid.json': {
    events: [status('wamid.FIXTURE.SENT.0015', { bsuid: BB }, 'failed', [131050])],
  },
  'status-failed-131049.json': { events: [status('wamid.FIXTURE.SENT.0016', A, 'failed', [131049])] },
  'preferences-stop.json': { events: [preference(A, 'stop')] },
  'preferences-resume.json': { events: [preference(A, 'resume')] },
  'preferences-signup.json': {
    events: [preference({ ...A, bsuid: BA }, 'signup', { signupId: '1234567890123456' })],
  },
  'preferences-stop-bsuid-and-number.json': { events: [preference({ ...A, bsuid: BA }, 'stop')] },
  'preferences-stop-bsuid-only.json': { events: [preference({ bsuid: BB }, 'stop')] },
  'preferences-stop-parent-bsuid.json': { events: [preference({ bsuid: BC, parentBsuid: PA }, 'stop')] },
  'batch-multi-entry.json': {
    events: [
      message('wamid.FIXTURE.BATCH.0001', { ...A, bsuid: BA }, text('STOP')),
      status('wamid.FIXTURE.SENT.0020', C, 'failed', [131050]),
      preference({ bsuid: BB }, 'stop'),
    ],
    ignored: 1,
  },
};

const files = readdirSync(DIR).filter((f) => f.endsWith('.json'));
const sources = readFileSync(join(DIR, 'SOURCES.md'), 'utf8');
const load = (file: string): unknown => JSON.parse(readFileSync(join(DIR, file), 'utf8'));

describe('WhatsApp fixture corpus', () => {
  it('has an expectation for every fixture and a fixture for every expectation', () => {
    expect([...files].sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(files)('%s has a row in SOURCES.md naming its source', (file) => {
    const rows = sources.split('\n').map((line) => line.split('|').map((c) => c.trim()));
    const cells = rows.find((r) => r[0] === '' && r[1] === `\`${file}\``);
    expect(cells, `no SOURCES.md row for ${file}`).toBeDefined();
    expect(cells?.[2]?.length ?? 0, 'source cell').toBeGreaterThan(0);
    expect(cells?.[3]?.length ?? 0, 'what-it-shows cell').toBeGreaterThan(0);
  });

  it.each(files)('%s parses into the documented events, nothing skipped', (file) => {
    const expected = EXPECTED[file];
    expect(parseWebhook(load(file))).toEqual({
      ok: true,
      events: expected?.events,
      ignored: expected?.ignored ?? 0,
      skipped: [],
    });
  });

  it.each(files)('%s: no profile name, username, caption or error text leaves the parser', (file) => {
    const out = JSON.stringify(parseWebhook(load(file)));
    for (const dropped of ['Example Person', 'example.', 'Example caption', 'Unable to deliver', 'Next Day'])
      expect(out).not.toContain(dropped);
  });
});
