import { createRoute, z } from '@hono/zod-openapi';
import { renderComplianceMarkdown } from '../../compliance/markdown.ts';
import { buildComplianceReport } from '../../compliance/report.ts';
import { audit } from '../audit.ts';
import { requireRole } from '../auth.ts';
import type { Router } from '../router.ts';
import { bearer, errorResponses } from './shared.ts';

const Status = z.enum(['ok', 'warn', 'fail']);
const strings = z.array(z.string());

const Report = z
  .object({
    generatedAt: z.string(),
    environment: z.string(),
    record: z.object({
      controller: z.object({
        name: z.string(),
        contact: z.string().nullable(),
        dpoContact: z.string().nullable(),
        privacyPolicyUrl: z.string(),
      }),
      processing: z.string(),
      dataSubjects: strings,
      purposes: z.array(
        z.object({
          id: z.string(),
          label: z.record(z.string(), z.string()),
          legalBasis: z.string(),
          texts: z.array(
            z.object({
              locale: z.string(),
              version: z.string(),
              current: z.boolean(),
              text: z.string(),
              sha256: z.string(),
            }),
          ),
        }),
      ),
      categories: z.array(z.object({ category: z.string(), items: strings, storage: z.string() })),
      recipients: z.array(
        z.object({
          id: z.string(),
          name: z.string(),
          kind: z.enum(['messaging', 'crm']),
          vendor: z.string(),
          endpoint: z.string(),
          sent: strings,
          received: strings,
          transfers: z.string(),
        }),
      ),
      storage: z.object({
        runtime: z.enum(['node', 'workers']),
        engine: z.enum(['SQLite', 'Cloudflare D1']),
        location: z.string(),
      }),
      retention: z.array(z.object({ data: z.string(), period: z.string(), setting: z.string().nullable() })),
      security: z.array(z.object({ measure: z.string(), inPlace: z.boolean(), detail: z.string() })),
    }),
    checklist: z.array(
      z.object({ id: z.string(), duty: z.string(), article: z.string(), status: Status, detail: z.string() }),
    ),
    summary: z.object({ ok: z.number(), warn: z.number(), fail: z.number() }),
  })
  .openapi('ComplianceReport');

const report = createRoute({
  method: 'get',
  path: '/v1/compliance',
  operationId: 'getComplianceChecklist',
  tags: ['compliance'],
  summary: 'Record of processing (Art. 30) and the GDPR checklist, computed from the running deployment',
  security: bearer,
  middleware: [requireRole('auditor')],
  responses: {
    200: { description: 'The report', content: { 'application/json': { schema: Report } } },
    ...errorResponses,
  },
});

const record = createRoute({
  method: 'get',
  path: '/v1/compliance/record',
  operationId: 'getProcessingRecord',
  tags: ['compliance'],
  summary: 'The same report as a Markdown document to download (audited)',
  security: bearer,
  middleware: [requireRole('auditor')],
  responses: {
    200: { description: 'Markdown (attachment)', content: { 'text/markdown': { schema: z.string() } } },
    ...errorResponses,
  },
});

export function complianceRoutes(app: Router) {
  app.openapi(report, async (c) => c.json(await buildComplianceReport(c.var.services), 200));

  app.openapi(record, async (c) => {
    const r = await buildComplianceReport(c.var.services);
    await audit(c, 'compliance.export', null, { summary: r.summary });
    const day = r.generatedAt.slice(0, 10);
    return c.body(renderComplianceMarkdown(r), 200, {
      'content-type': 'text/markdown; charset=utf-8',
      'content-disposition': `attachment; filename="record-of-processing-${day}.md"`,
      'cache-control': 'no-store',
    });
  });
}
