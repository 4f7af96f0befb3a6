import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { ROLES } from '../../config.ts';
import type { AuditEntry } from '../../core/types.ts';
import { issueApiKey, keyIdOf } from '../../service/api-keys.ts';
import { requireRole } from '../auth.ts';
import { AppError } from '../errors.ts';
import type { Router } from '../router.ts';
import type { AppEnv } from '../types.ts';
import { bearer, errorResponses } from './shared.ts';

const Role = z.enum(ROLES);

const CreateBody = z
  .object({
    role: Role,
    label: z
      .string()
      .trim()
      .min(1)
      .max(100)
      // No flags: the OpenAPI generator writes a flagged regex with its `/u` into the pattern, which
      // no client can compile. \p{Cc} is exactly U+0000-U+001F and U+007F-U+009F.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
      .regex(/^[^\x00-\x1f\x7f-\x9f]*$/, 'must not contain control characters')
      .openapi({ example: 'DPO laptop', description: 'what the key is for (shown in the list)' }),
  })
  .strict();

const Created = z
  .object({
    id: z.string(),
    role: Role,
    label: z.string(),
    token: z.string().openapi({ description: 'the bearer token: shown this once, only its SHA-256 is kept' }),
    createdAt: z.string(),
  })
  .openapi('ApiKeyCreated');

const Key = z
  .object({
    id: z.string(),
    role: Role,
    source: z.enum(['api', 'env']).openapi({ description: 'api: made with POST /v1/keys; env: API_KEYS' }),
    label: z.string(),
    createdAt: z.string().nullable(),
    createdBy: z.string().nullable(),
    lastUsedAt: z.string().nullable().openapi({ description: 'updated at most every 5 minutes' }),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiKey');

/** One key as `GET /v1/keys` lists it (the console reads the same shape). */
export type ApiKeyListing = z.infer<typeof Key>;

const Id = z.object({
  id: z
    .string()
    .regex(/^[0-9a-f]{12}$/, 'a key id is 12 lower-case hex digits')
    .openapi({ param: { name: 'id', in: 'path' }, example: '3f2a9c01d4e7' }),
});

const create = createRoute({
  method: 'post',
  path: '/v1/keys',
  operationId: 'createApiKey',
  tags: ['keys'],
  summary: 'Create an API key for a role; the token is in this response only (stored as SHA-256)',
  security: bearer,
  middleware: [requireRole('admin')],
  request: { body: { content: { 'application/json': { schema: CreateBody } }, required: true } },
  responses: {
    201: { description: 'The key, with its token', content: { 'application/json': { schema: Created } } },
    ...errorResponses,
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/keys',
  operationId: 'listApiKeys',
  tags: ['keys'],
  summary: 'Every API key (API_KEYS and stored ones) with role and status; never a token',
  security: bearer,
  middleware: [requireRole('admin')],
  responses: {
    200: {
      description: 'Keys',
      content: { 'application/json': { schema: z.object({ keys: z.array(Key) }) } },
    },
    ...errorResponses,
  },
});

const revoke = createRoute({
  method: 'delete',
  path: '/v1/keys/{id}',
  operationId: 'revokeApiKey',
  tags: ['keys'],
  summary: 'Revoke a stored key (from the next request on); API_KEYS keys are changed in the configuration',
  security: bearer,
  middleware: [requireRole('admin')],
  request: { params: Id },
  responses: {
    204: { description: 'Revoked (or already revoked)' },
    404: errorResponses[400],
    409: errorResponses[400],
    ...errorResponses,
  },
});

/** An audit entry of the calling admin, to commit with the change it records. */
const entry = (c: Context<AppEnv>, action: string, target: string, details: Record<string, unknown>) =>
  ({
    id: crypto.randomUUID(),
    at: c.var.services.clock().toISOString(),
    actor: c.var.actor.keyId,
    role: c.var.actor.role,
    action,
    target,
    details,
  }) satisfies AuditEntry;

export function keyRoutes(app: Router) {
  app.openapi(create, async (c) => {
    const { role, label } = c.req.valid('json');
    const { store, clock } = c.var.services;
    const { token, row } = await issueApiKey({ role, label, createdBy: c.var.actor.keyId, now: clock() });
    await store.commit({ apiKeys: [row], audit: [entry(c, 'apikey.create', row.id, { role, label })] });
    c.var.log.info({ keyId: row.id, role }, 'api key created');
    return c.json({ id: row.id, role, label, token, createdAt: row.createdAt }, 201);
  });

  app.openapi(list, async (c) => {
    const { store, config } = c.var.services;
    const env = await Promise.all(
      config.API_KEYS.map(async (k) => ({
        id: await keyIdOf(k.token),
        role: k.role,
        source: 'env' as const,
        label: 'API_KEYS',
        createdAt: null,
        createdBy: null,
        lastUsedAt: null,
        revokedAt: null,
      })),
    );
    const stored = (await store.listApiKeys()).map((k) => ({
      id: k.id,
      role: Role.parse(k.role),
      source: 'api' as const,
      label: k.label,
      createdAt: k.createdAt,
      createdBy: k.createdBy,
      lastUsedAt: k.lastUsedAt,
      revokedAt: k.revokedAt,
    }));
    return c.json({ keys: [...env, ...stored] }, 200);
  });

  app.openapi(revoke, async (c) => {
    const { id } = c.req.valid('param');
    const { store, config, clock } = c.var.services;
    const envIds = await Promise.all(config.API_KEYS.map((k) => keyIdOf(k.token)));
    if (envIds.includes(id)) {
      throw new AppError(
        409,
        'ENV_KEY_NOT_REVOCABLE',
        'this key comes from the API_KEYS configuration: remove it there and restart',
      );
    }
    const key = await store.getApiKey(id);
    if (!key) throw new AppError(404, 'NOT_FOUND', 'no such API key');
    if (key.revokedAt === null) {
      const at = clock().toISOString();
      await store.commit({
        revokeApiKeys: [{ id, at, by: c.var.actor.keyId }],
        audit: [entry(c, 'apikey.revoke', id, { role: key.role, label: key.label })],
      });
      c.var.log.info({ keyId: id }, 'api key revoked');
    }
    return c.body(null, 204);
  });
}
