/**
 * Sync rule 4: no sender's `occurredAt` is trusted beyond receipt time plus a small clock-skew
 * allowance. A time that lies further ahead (a CRM's `LastModifiedDate` of 2099, HubSpot's 275760)
 * or cannot be read is replaced by the receipt time, so one forged or broken clock cannot make a
 * change outrank every later one; the claim is kept (ISO-8601, or `unreadable`) for the evidence.
 *
 * @example
 * capOccurredAt('2099-01-01T00:00:00Z', '2026-03-02T09:00:00.000Z', 300_000);
 * // → { occurredAt: '2026-03-02T09:00:00.000Z', claimed: '2099-01-01T00:00:00.000Z' }
 * capOccurredAt('2026-03-02T08:59:00.000Z', '2026-03-02T09:00:00.000Z', 300_000);
 * // → { occurredAt: '2026-03-02T08:59:00.000Z', claimed: null }
 */
export function capOccurredAt(
  occurredAt: string,
  receivedAt: string,
  skewMs: number,
): { occurredAt: string; claimed: string | null } {
  const t = Date.parse(occurredAt);
  if (Number.isFinite(t) && t <= Date.parse(receivedAt) + skewMs) return { occurredAt, claimed: null };
  return { occurredAt: receivedAt, claimed: Number.isFinite(t) ? new Date(t).toISOString() : 'unreadable' };
}
