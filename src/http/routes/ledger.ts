import { createRoute, z } from '@hono/zod-openapi';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses } from './shared.ts';

const VerifyResponse = z
  .object({
    ok: z.boolean(),
    events: z.number(),
    brokenAt: z
      .object({ seq: z.number(), id: z.string().nullable(), reason: z.string(), message: z.string() })
      .optional(),
  })
  .openapi('LedgerVerification');

const verify = createRoute({
  method: 'get',
  path: '/v1/ledger/verify',
  operationId: 'verifyLedger',
  tags: ['ledger'],
  summary: 'Verify the hash chain; says where it breaks (recorded in the audit log)',
  security: bearer,
  middleware: [requireRole('auditor')],
  responses: {
    200: { description: 'Verification result', content: { 'application/json': { schema: VerifyResponse } } },
    ...errorResponses,
  },
});

export function ledgerRoutes(app: Router) {
  app.openapi(verify, async (c) => {
    const result = await c.var.services.history.verify();
    if (!result.ok)
      c.var.log.warn(
        { brokenAt: result.brokenAt.seq, reason: result.brokenAt.reason },
        'ledger chain broken',
      );
    // Recorded, so the console overview can say when the chain was last verified and with what result.
    await audit(c, 'ledger.verify', null, {
      ok: result.ok,
      events: result.events,
      ...(result.ok ? {} : { brokenAtSeq: result.brokenAt.seq }),
    });
    return c.json(result, 200);
  });
}
