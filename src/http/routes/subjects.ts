import { createRoute, z } from '@hono/zod-openapi';
import { identityOf } from '../../core/identity.ts';
import { statesView } from '../../service/views.ts';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import { erasureView } from './erasures.ts';
import {
  bearer,
  errorResponses,
  PhoneParam,
  refOrThrow,
  requireKnownPurposes,
  StateSchema,
} from './shared.ts';

const SubjectResponse = z
  .object({
    known: z.boolean(),
    erased: z
      .boolean()
      .optional()
      .openapi({ description: 'true once an erasure was requested (every send is blocked)' }),
    purposes: z.record(z.string(), StateSchema),
    identifiers: z
      .array(
        z.object({
          kind: z.enum(['phone', 'bsuid', 'parent_bsuid']),
          masked: z.string(),
          status: z.enum(['active', 'former']),
        }),
      )
      .optional()
      .openapi({
        description:
          "The person's identifiers, masked (kinds: number, BSUID, parent BSUID; `former`: a number they changed away from, never messaged)",
      }),
  })
  .openapi('Subject');

const HistoryEvent = z
  .object({
    seq: z.number(),
    id: z.string(),
    purpose: z.string(),
    action: z.string(),
    source: z.string(),
    occurredAt: z.string(),
    recordedAt: z.string(),
    textVersion: z.string().nullable(),
    textSha256: z.string().nullable(),
    text: z.string().nullable(),
    evidence: z.record(z.string(), z.unknown()).nullable(),
    hash: z.string(),
  })
  .openapi('LedgerEvent');

const OptOutBody = z
  .object({
    purposes: z.array(z.string().min(1).max(64)).min(1).max(20).optional(),
    reference: z.string().max(200).optional(),
  })
  .strict()
  .openapi('OptOutRequest', { example: { purposes: ['marketing'], reference: 'phone call 2026-12-03' } });

const getSubject = createRoute({
  method: 'get',
  path: '/v1/subjects/{phone}',
  operationId: 'getSubject',
  tags: ['subjects'],
  summary: "A person's current consent per purpose",
  security: bearer,
  middleware: [requireRole('operator', 'auditor')],
  request: { params: PhoneParam },
  responses: {
    200: { description: 'Current state', content: { 'application/json': { schema: SubjectResponse } } },
    ...errorResponses,
  },
});

const history = createRoute({
  method: 'get',
  path: '/v1/subjects/{phone}/history',
  operationId: 'getSubjectHistory',
  tags: ['subjects'],
  summary: "A person's ledger events with evidence and exact wording",
  security: bearer,
  middleware: [requireRole('auditor')],
  request: { params: PhoneParam },
  responses: {
    200: {
      description: 'Events in ledger order',
      content: { 'application/json': { schema: z.object({ events: z.array(HistoryEvent) }) } },
    },
    ...errorResponses,
  },
});

const optOut = createRoute({
  method: 'post',
  path: '/v1/subjects/{phone}/opt-out',
  operationId: 'optOutSubject',
  tags: ['subjects'],
  summary: 'Opt a person out of one, several or all purposes',
  security: bearer,
  middleware: [requireRole('operator')],
  request: {
    params: PhoneParam,
    body: { content: { 'application/json': { schema: OptOutBody } }, required: false },
  },
  responses: {
    200: { description: 'Opted out', content: { 'application/json': { schema: SubjectResponse } } },
    ...errorResponses,
    422: errorResponses[400],
  },
});

const exportRoute = createRoute({
  method: 'get',
  path: '/v1/subjects/{phone}/export',
  operationId: 'exportSubject',
  tags: ['subjects'],
  summary: 'Everything held about a person, as one JSON document (Art. 15; auditor and admin)',
  description:
    'The complete copy the person is entitled to, including the decrypted evidence that only auditors may read (as in the history), so it is for auditors and admins; operators get 403 (README, Security).',
  security: bearer,
  // Auditors, not operators: the export holds the decrypted evidence of the history route (finding 7).
  middleware: [requireRole('auditor')],
  request: { params: PhoneParam },
  responses: {
    200: {
      description:
        'States, ledger events with evidence and exact wording, CRM recipients and when, erasure requests; for an erased person only the tombstone and the receipts',
      content: { 'application/json': { schema: z.record(z.string(), z.unknown()).openapi('SubjectExport') } },
    },
    400: {
      description: 'INVALID_PHONE: not an E.164 number or WhatsApp id',
      content: errorResponses[400].content,
    },
    401: errorResponses[401],
    403: {
      description: 'FORBIDDEN: only auditor and admin keys (operators, editors and intake keys get 403)',
      content: errorResponses[403].content,
    },
  },
});

export function subjectRoutes(app: Router) {
  app.openapi(exportRoute, async (c) => {
    const { subjects, store, catalog, history: h, clock, erasure, config } = c.var.services;
    // Under every PII key (current, retired, archived): an erased person's hashes are old ones.
    const hashes = await subjects.hashesOf(
      refOrThrow(c.req.valid('param').phone, config.DEFAULT_COUNTRY).value,
    );
    const [tombstone] = await store.tombstonesFor(hashes);
    const requests = await Promise.all((await store.erasuresOf(hashes)).map((e) => erasure.view(e)));
    const erasures = requests.map(erasureView);
    const subject = await subjects.find(hashes);
    const base = { generatedAt: clock().toISOString(), format: 'consent-sync/export/v1' };
    if (!subject || tombstone) {
      // Erased (or being erased): what remains is the suppression record and the receipts.
      await audit(c, 'subject.export', subject?.row.id ?? null, { erased: tombstone !== undefined });
      return c.json(
        {
          ...base,
          known: subject !== null,
          erased: tombstone !== undefined,
          tombstone: tombstone
            ? { subject: tombstone.subjectHash, since: tombstone.createdAt, erasureId: tombstone.erasureId }
            : null,
          erasures,
        },
        200,
      );
    }
    const sid = subject.row.id;
    const links = await store.linksOf(sid);
    const jobs = await store.listJobs({ subjectId: sid, limit: 500 });
    const recipients = await Promise.all(
      links.map(async (l) => ({
        system: l.connector,
        record: { objectType: l.objectType, id: l.remoteId },
        linkedAt: l.linkedAt,
        lastWritten: (await store.syncWritesOf(l.connector, l.objectType, l.remoteId)).map((w) => ({
          property: w.property,
          value: JSON.parse(w.value) as unknown,
          at: w.writtenAt,
        })),
      })),
    );
    await audit(c, 'subject.export', sid, {});
    return c.json(
      {
        ...base,
        known: true,
        erased: false,
        person: {
          phone: await subjects.phoneOrNull(subject),
          identifiers: (await subjects.identifiers(subject)).map((i) => ({
            kind: i.kind,
            value: i.value,
            status: i.status,
          })),
          locale: subject.row.locale,
          firstSeenAt: subject.row.createdAt,
          privacyNoticeSentAt: subject.row.privacyNoticeAt,
        },
        purposes: statesView(catalog.purposes, await store.getStates(sid)),
        ledger: await h.events(subject),
        recipients,
        deliveries: jobs
          .filter((j) => j.kind.startsWith('sync.') || j.kind === 'whatsapp.send')
          .map((j) => ({ kind: j.kind, status: j.status, at: j.updatedAt, attempts: j.attempts })),
        erasures,
      },
      200,
    );
  });

  app.openapi(getSubject, async (c) => {
    const { subjects, store, catalog, config } = c.var.services;
    const hashes = await subjects.hashesOf(
      refOrThrow(c.req.valid('param').phone, config.DEFAULT_COUNTRY).value,
    );
    const [tombstone] = await store.tombstonesFor(hashes);
    const subject = tombstone ? null : await subjects.find(hashes);
    const states = subject ? await store.getStates(subject.row.id) : [];
    return c.json(
      {
        known: subject !== null,
        erased: tombstone !== undefined,
        purposes: statesView(catalog.purposes, states),
        ...(subject ? { identifiers: await subjects.masked(subject) } : {}),
      },
      200,
    );
  });

  app.openapi(history, async (c) => {
    const { subjects, history: h, config } = c.var.services;
    const ref = refOrThrow(c.req.valid('param').phone, config.DEFAULT_COUNTRY);
    const subject = await subjects.findValue(ref.value);
    return c.json({ events: subject ? await h.events(subject) : [] }, 200);
  });

  app.openapi(optOut, async (c) => {
    const { catalog, consent, clock, store, config } = c.var.services;
    const ref = refOrThrow(c.req.valid('param').phone, config.DEFAULT_COUNTRY);
    const body = c.req.valid('json') ?? {};
    requireKnownPurposes(body.purposes ?? [], catalog.purposes);
    const actor = c.var.actor;
    const result = await consent.change({
      identity: identityOf(ref),
      intent: 'opt_out',
      purposes: body.purposes ?? 'all',
      source: 'api',
      occurredAt: clock().toISOString(),
      evidence: { actor: actor.keyId, ...(body.reference ? { reference: body.reference } : {}) },
      create: true,
      audit: {
        actor: actor.keyId,
        role: actor.role,
        action: 'subject.opt_out',
        details: { purposes: body.purposes ?? 'all' },
      },
    });
    if (result.status === 'erased') {
      throw new AppError(
        409,
        'ERASED',
        'this person asked to be erased: nothing is recorded and every send is blocked',
      );
    }
    if (result.status !== 'applied') throw new Error(`unexpected ${result.status}`);
    const states = await store.getStates(result.subjectId);
    return c.json({ known: true, purposes: statesView(catalog.purposes, states) }, 200);
  });
}
