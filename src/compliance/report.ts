/**
 * `buildComplianceReport(services)`: the record of processing (Art. 30) and the GDPR checklist,
 * computed from the running configuration and the stored state each time it is asked for. Used by
 * `GET /v1/compliance`, `GET /v1/compliance/record` and the admin console.
 */
import type { Services } from '../app/services.ts';
import { buildChecklist } from './checklist.ts';
import { buildRecord, type Facts } from './record.ts';
import type { CheckStatus, ComplianceReport } from './types.ts';

export type * from './types.ts';

/** The facts both parts rely on, read once: connectors, ledger verification, stored keys. */
async function readFacts(s: Services): Promise<Facts> {
  const verified = await s.history.verify();
  const keys = await s.store.listApiKeys();
  const revoked = keys.filter((k) => k.revokedAt !== null).length;
  return {
    connectors: s.sync.enabled(),
    ledger: {
      ok: verified.ok,
      events: verified.events,
      reason: verified.ok ? null : verified.brokenAt.reason,
    },
    storedKeys: { active: keys.length - revoked, revoked },
  };
}

/**
 * @example
 * const report = await buildComplianceReport(services);
 * report.checklist.filter((i) => i.status === 'fail'); // what this deployment does not meet
 */
export async function buildComplianceReport(services: Services): Promise<ComplianceReport> {
  const facts = await readFacts(services);
  const [record, checklist] = await Promise.all([
    buildRecord(services, facts),
    buildChecklist(services, facts),
  ]);
  const summary: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0 };
  for (const i of checklist) summary[i.status] += 1;
  return {
    generatedAt: services.clock().toISOString(),
    environment: services.config.NODE_ENV,
    record,
    checklist,
    summary,
  };
}
