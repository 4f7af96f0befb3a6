import { createRoute, z } from '@hono/zod-openapi';
import type { ConnectorName } from '../../../connectors/types.ts';
import { localView, push, readableProperties } from '../../core/mapping.ts';
import type { Router } from '../app.ts';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import { bearer, errorResponses, refOrThrow } from './shared.ts';

const Connector = z.object({
  connector: z.enum(['hubspot', 'salesforce']).openapi({ param: { name: 'connector', in: 'path' } }),
});
const MappingBody = z.record(z.string(), z.unknown()).openapi('Mapping', {
  description: 'A mapping as in mappings/<connector>.json (JSON Schema: mappings/mapping.schema.json)',
});
const MappingView = z
  .object({ connector: z.string(), storedIn: z.string(), mapping: MappingBody })
  .openapi('MappingView');
const invalid = { description: 'The mapping is invalid; error.details.issues lists each problem by path' };

const get = createRoute({
  method: 'get',
  path: '/v1/mappings/{connector}',
  tags: ['mappings'],
  summary: 'The whitelist of fields synced with a CRM',
  security: bearer,
  middleware: [requireRole('editor')],
  request: { params: Connector },
  responses: {
    200: { description: 'The mapping in force', content: { 'application/json': { schema: MappingView } } },
    404: errorResponses[400],
    ...errorResponses,
  },
});

const put = createRoute({
  method: 'put',
  path: '/v1/mappings/{connector}',
  tags: ['mappings'],
  summary: 'Replace a mapping (validated, audited, in force at once)',
  security: bearer,
  middleware: [requireRole('editor')],
  request: {
    params: Connector,
    body: { content: { 'application/json': { schema: MappingBody } }, required: true },
  },
  responses: {
    200: { description: 'Stored and in force', content: { 'application/json': { schema: MappingView } } },
    404: errorResponses[400],
    422: invalid,
    ...errorResponses,
  },
});

const preview = createRoute({
  method: 'post',
  path: '/v1/mappings/{connector}/preview',
  tags: ['mappings'],
  summary: 'Exactly what would be sent to the CRM for a person (optionally under a draft mapping)',
  security: bearer,
  middleware: [requireRole('editor')],
  request: {
    params: Connector,
    body: {
      content: {
        'application/json': {
          schema: z.object({
            phone: z.string().min(1).max(40),
            mapping: MappingBody.optional().openapi({
              description: 'a draft to preview instead of the mapping in force',
            }),
          }),
        },
      },
      required: true,
    },
  },
  responses: {
    200: {
      description: 'The properties that would be written, and where',
      content: {
        'application/json': {
          schema: z.object({
            connector: z.string(),
            known: z.boolean(),
            draft: z.boolean(),
            match: z.object({ objects: z.array(z.string()), field: z.string() }),
            records: z.array(z.object({ objectType: z.string(), id: z.string() })),
            properties: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
            readable: z.array(z.string()),
          }),
        },
      },
    },
    404: errorResponses[400],
    422: invalid,
    ...errorResponses,
  },
});

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
    const r = await c.var.services.mappings.replace(connector, c.req.valid('json'));
    if (!r.ok) {
      throw new AppError(422, 'MAPPING_INVALID', r.issues.map((i) => `${i.path}: ${i.message}`).join('; '), {
        issues: r.issues,
      });
    }
    await audit(c, 'mapping.replace', connector, { before: r.before, after: r.after });
    const { mappings } = c.var.services;
    return c.json({ connector, storedIn: mappings.storedIn(connector), mapping: plain(r.after) }, 200);
  });

  app.openapi(preview, async (c) => {
    const { connector } = c.req.valid('param');
    enabled(c, connector);
    const body = c.req.valid('json');
    const { mappings, subjects, store } = c.var.services;
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
    const subject = await subjects.findValue(refOrThrow(body.phone).value);
    const states = subject ? await store.getStates(subject.row.id) : [];
    const links = subject
      ? (await store.linksOf(subject.row.id)).filter((l) => l.connector === connector)
      : [];
    return c.json(
      {
        connector,
        known: subject !== null,
        draft: body.mapping !== undefined,
        match: { objects: mapping.match.objects, field: mapping.match.field },
        records: links.map((l) => ({ objectType: l.objectType, id: l.remoteId })),
        properties: push(mapping, localView(states)),
        readable: readableProperties(mapping),
      },
      200,
    );
  });
}
