import { createRoute, z } from '@hono/zod-openapi';
import type { ConnectorName } from '../../../connectors/types.ts';
import { localView, mappingSchema, push, readableProperties } from '../../core/mapping.ts';
import { adminOnlyChanges } from '../../core/mapping-policy.ts';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import { ExampleState, exampleStates } from './mapping-example.ts';
import { bearer, ErrorSchema, errorResponses, refOrThrow } from './shared.ts';

const Connector = z.object({
  connector: z.enum(['hubspot', 'salesforce']).openapi({ param: { name: 'connector', in: 'path' } }),
});
const MappingBody = z.record(z.string(), z.unknown()).openapi('Mapping', {
  description: 'A mapping as in mappings/<connector>.json (JSON Schema: mappings/mapping.schema.json)',
});
const MappingView = z
  .object({ connector: z.string(), storedIn: z.string(), mapping: MappingBody })
  .openapi('MappingView');
const tooLarge = {
  description: 'PAYLOAD_TOO_LARGE: the body exceeds MAX_BODY_BYTES',
  content: { 'application/json': { schema: ErrorSchema } },
};
const notEnabled = {
  description: 'CONNECTOR_NOT_ENABLED: the connector is not configured on this deployment',
  content: { 'application/json': { schema: ErrorSchema } },
};

const get = createRoute({
  method: 'get',
  path: '/v1/mappings/{connector}',
  operationId: 'getMapping',
  tags: ['mappings'],
  summary: 'The whitelist of fields synced with a CRM',
  security: bearer,
  middleware: [requireRole('editor')],
  request: { params: Connector },
  responses: {
    200: { description: 'The mapping in force', content: { 'application/json': { schema: MappingView } } },
    404: notEnabled,
    ...errorResponses,
  },
});

const SaveQuery = z.object({
  unchecked: z
    .enum(['true'])
    .optional()
    .openapi({
      param: { name: 'unchecked', in: 'query' },
      description:
        'admin only: save although the CRM cannot be reached to check the properties (recorded in the audit log)',
    }),
});

const put = createRoute({
  method: 'put',
  path: '/v1/mappings/{connector}',
  operationId: 'replaceMapping',
  tags: ['mappings'],
  summary: 'Replace a mapping (validated, audited, in force at once)',
  description:
    'Editors may change the whitelist of custom fields. trustOptIn, match (every key), allowStandardFields and any field entry naming a standard CRM field are admin-only: an editor whose mapping changes one of them gets 403 MAPPING_ADMIN_ONLY naming each, and nothing changes. Before it is stored, the mapping is checked against the CRM (HubSpot properties, Salesforce describe of the matched objects): every remote property must exist and fit its transform.',
  security: bearer,
  middleware: [requireRole('editor')],
  request: {
    params: Connector,
    query: SaveQuery,
    body: { content: { 'application/json': { schema: MappingBody } }, required: true },
  },
  responses: {
    200: { description: 'Stored and in force', content: { 'application/json': { schema: MappingView } } },
    400: errorResponses[400],
    401: errorResponses[401],
    403: {
      description:
        'FORBIDDEN: the role may not use this route; or MAPPING_ADMIN_ONLY: an editor changed an admin-only setting (error.details.adminOnly lists each: trustOptIn, match.<key>, allowStandardFields, fields[<name>])',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    404: notEnabled,
    413: tooLarge,
    422: {
      description:
        'MAPPING_INVALID: the mapping is invalid; or MAPPING_CRM_MISMATCH: a property does not exist in the CRM or does not fit its transform. error.details.issues lists each problem by path',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    502: {
      description:
        'CRM_UNREACHABLE: the CRM could not be asked whether the properties exist; nothing was saved (an admin may repeat with ?unchecked=true)',
      content: { 'application/json': { schema: ErrorSchema } },
    },
  },
});

const PreviewBody = z
  .object({
    phone: z.string().min(1).max(40).optional().openapi({
      description: 'admin only: preview for the person with this number (their real state and CRM records)',
    }),
    example: z
      .record(z.string().regex(/^[a-z][a-z0-9_]{0,39}$/), ExampleState)
      .optional()
      .openapi({
        description:
          'example states per purpose (purposes left out are none); what editors preview with, e.g. { "marketing": { "status": "opted_in" } }',
      }),
    mapping: MappingBody.optional().openapi({
      description: 'a draft to preview instead of the mapping in force',
    }),
  })
  .strict()
  .refine((b) => (b.phone === undefined) !== (b.example === undefined), {
    message: 'give either example (states to preview) or phone (admin only), not both',
    path: ['example'],
  })
  .openapi('MappingPreviewRequest', { example: { example: { marketing: { status: 'opted_in' } } } });

const preview = createRoute({
  method: 'post',
  path: '/v1/mappings/{connector}/preview',
  operationId: 'previewMapping',
  tags: ['mappings'],
  summary: 'Exactly what would be sent to the CRM for example states, or (admin) for a person',
  description:
    "Editors preview with example states and learn nothing about any person; an admin may instead give a phone number and see that person's values and linked records.",
  security: bearer,
  middleware: [requireRole('editor')],
  request: {
    params: Connector,
    body: { content: { 'application/json': { schema: PreviewBody } }, required: true },
  },
  responses: {
    200: {
      description: 'The properties that would be written, and where',
      content: {
        'application/json': {
          schema: z.object({
            connector: z.string(),
            draft: z.boolean(),
            example: z.boolean().openapi({ description: 'true: computed from the example states given' }),
            known: z.boolean().optional().openapi({ description: 'phone previews (admin) only' }),
            match: z.object({ objects: z.array(z.string()), field: z.string() }),
            records: z
              .array(z.object({ objectType: z.string(), id: z.string() }))
              .optional()
              .openapi({ description: 'phone previews (admin) only: the linked CRM records' }),
            properties: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
            readable: z.array(z.string()),
          }),
        },
      },
    },
    400: {
      description:
        'VALIDATION_FAILED (neither or both of example and phone), INVALID_PHONE or MALFORMED_JSON',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    401: errorResponses[401],
    403: {
      description:
        'FORBIDDEN: the role may not use this route; or PREVIEW_BY_PHONE_ADMIN_ONLY: an editor gave a phone number (editors preview with example states)',
      content: { 'application/json': { schema: ErrorSchema } },
    },
    404: notEnabled,
    413: tooLarge,
    422: {
      description:
        'MAPPING_INVALID (the draft; error.details.issues), UNKNOWN_PURPOSE or UNKNOWN_TEXT_VERSION (the example)',
      content: { 'application/json': { schema: ErrorSchema } },
    },
  },
});

/** A 422 listing each problem by path. */
const invalidMapping = (code: string, issues: Array<{ path: string; message: string }>) =>
  new AppError(422, code, issues.map((i) => `${i.path}: ${i.message}`).join('; '), { issues });

/** A mapping as plain JSON (drops undefined members). */
const plain = (m: object) => JSON.parse(JSON.stringify(m)) as Record<string, never>;

function enabled(c: { var: { services: { mappings: { has(c: string): boolean } } } }, name: ConnectorName) {
  if (!c.var.services.mappings.has(name))
    throw new AppError(404, 'CONNECTOR_NOT_ENABLED', `${name} is not configured on this deployment`);
}

export function mappingRoutes(app: Router) {
  app.openapi(get, async (c) => {
    const { connector } = c.req.valid('param');
    enabled(c, connector);
    const { mappings } = c.var.services;
    return c.json(
      { connector, storedIn: mappings.storedIn(connector), mapping: plain(mappings.get(connector)) },
      200,
    );
  });

  app.openapi(put, async (c) => {
    const { connector } = c.req.valid('param');
    enabled(c, connector);
    const input = c.req.valid('json');
    const { unchecked } = c.req.valid('query');
    const { mappings, crmFields } = c.var.services;
    const admin = c.var.actor.role === 'admin';
    // Consent policy stays with admins (finding 4). Checked on the parsed draft, before the full
    // validation, so an editor naming a standard field hears that it needs an admin.
    const refuseAdminOnly = () => {
      if (admin) return;
      const parsed = mappingSchema.safeParse(input);
      const changed = parsed.success ? adminOnlyChanges(mappings.get(connector), parsed.data) : [];
      if (changed.length)
        throw new AppError(
          403,
          'MAPPING_ADMIN_ONLY',
          `only an admin may change ${changed.join(', ')}; nothing was saved`,
          { adminOnly: changed },
        );
    };
    refuseAdminOnly();
    if (unchecked && !admin)
      throw new AppError(403, 'UNCHECKED_SAVE_ADMIN_ONLY', 'only an admin may save without the CRM check');
    const valid = mappings.validate(connector, input);
    if (!valid.ok) throw invalidMapping('MAPPING_INVALID', valid.issues);
    // A typo in a property name would turn every write into a dead letter: ask the CRM first.
    const crm = await crmFields.check(connector, valid.mapping);
    if (crm.status === 'mismatch') throw invalidMapping('MAPPING_CRM_MISMATCH', crm.issues);
    if (crm.status === 'unreachable' && !unchecked)
      throw new AppError(
        502,
        'CRM_UNREACHABLE',
        `${crm.reason}, so the properties could not be checked; nothing was saved. An admin may save without the check (?unchecked=true).`,
      );
    // The CRM check awaited: another request may have changed the mapping since the first look.
    refuseAdminOnly();
    const r = await mappings.replace(connector, input);
    if (!r.ok) throw invalidMapping('MAPPING_INVALID', r.issues);
    const crmCheck =
      crm.status === 'unreachable'
        ? { status: 'skipped', confirmedBy: 'admin', reason: crm.reason }
        : { status: crm.status };
    await audit(c, 'mapping.replace', connector, { before: r.before, after: r.after, crmCheck });
    return c.json({ connector, storedIn: mappings.storedIn(connector), mapping: plain(r.after) }, 200);
  });

  app.openapi(preview, async (c) => {
    const { connector } = c.req.valid('param');
    enabled(c, connector);
    const body = c.req.valid('json');
    const { mappings, subjects, store, catalog, clock } = c.var.services;
    // An editor sees what a mapping writes, never whether a number is known or its state (finding 4).
    if (body.phone !== undefined && c.var.actor.role !== 'admin')
      throw new AppError(
        403,
        'PREVIEW_BY_PHONE_ADMIN_ONLY',
        "editors preview with example states (example); a person's values need an admin",
      );
    let mapping = mappings.get(connector);
    if (body.mapping) {
      const r = mappings.validate(connector, body.mapping);
      if (!r.ok) {
        throw new AppError(
          422,
          'MAPPING_INVALID',
          r.issues.map((i) => `${i.path}: ${i.message}`).join('; '),
          {
            issues: r.issues,
          },
        );
      }
      mapping = r.mapping;
    }
    const common = {
      connector,
      draft: body.mapping !== undefined,
      match: { objects: mapping.match.objects, field: mapping.match.field },
      readable: readableProperties(mapping),
    };
    if (body.phone === undefined) {
      const states = await exampleStates(body.example ?? {}, catalog, clock().toISOString());
      return c.json({ ...common, example: true, properties: push(mapping, localView(states)) }, 200);
    }
    const subject = await subjects.findValue(refOrThrow(body.phone).value);
    const states = subject ? await store.getStates(subject.row.id) : [];
    const links = subject
      ? (await store.linksOf(subject.row.id)).filter((l) => l.connector === connector)
      : [];
    return c.json(
      {
        ...common,
        example: false,
        known: subject !== null,
        records: links.map((l) => ({ objectType: l.objectType, id: l.remoteId })),
        properties: push(mapping, localView(states)),
      },
      200,
    );
  });
}
