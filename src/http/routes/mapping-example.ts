/**
 * Example states for the mapping preview (issue 14, finding 4): what editors preview with instead
 * of a person's number, so a preview says what a mapping writes and nothing about anyone.
 */
import { z } from '@hono/zod-openapi';
import type { PurposeState, Source } from '../../core/types.ts';
import type { Catalog } from '../../service/catalog-service.ts';
import { AppError } from '../errors.ts';
import { requireKnownPurposes } from './shared.ts';

const STATUSES = ['none', 'pending', 'opted_in', 'opted_out'] as const;
const SOURCES = [
  'whatsapp',
  'form',
  'api',
  'meta_preferences',
  'meta_status',
  'system',
  'hubspot',
  'salesforce',
] as const satisfies readonly Source[];

export const ExampleState = z
  .object({
    status: z.enum(STATUSES),
    changedAt: z.iso.datetime().optional().openapi({ description: 'default: now' }),
    source: z.enum(SOURCES).optional().openapi({ description: 'default: whatsapp' }),
    textVersion: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .openapi({ description: "default: the purpose's current text (opted_in, pending)" }),
    doubleOptInAt: z.iso.datetime().optional().openapi({ description: 'default: changedAt when opted_in' }),
  })
  .strict()
  .openapi('ExampleState', {
    description: 'One purpose in an example: its status; none means no state (the other values are ignored)',
  });

type Example = Record<string, z.infer<typeof ExampleState>>;

/**
 * Purpose states from example values, filled with what a real state would hold: a time, a source,
 * the purpose's current text for opted_in and pending. Unknown purposes and text versions of
 * another purpose are refused (422), like in `POST /v1/consents`.
 *
 * @example
 * await exampleStates({ marketing: { status: 'opted_in' } }, catalog, now);
 * // [{ purpose: 'marketing', status: 'opted_in', source: 'whatsapp', changedAt: now, textVersion: 'marketing-de-1', … }]
 */
export async function exampleStates(
  example: Example,
  catalog: Catalog,
  now: string,
): Promise<PurposeState[]> {
  requireKnownPurposes(Object.keys(example), catalog.purposes);
  const states: PurposeState[] = [];
  for (const [purpose, e] of Object.entries(example)) {
    if (e.textVersion && catalog.textPurpose(e.textVersion) !== purpose)
      throw new AppError(422, 'UNKNOWN_TEXT_VERSION', `textVersion is not a version of ${purpose}`);
    if (e.status === 'none') continue; // no state: what the mapping writes for a person never asked
    const changedAt = e.changedAt ?? now;
    const current =
      e.status === 'opted_in' || e.status === 'pending'
        ? (await catalog.consentText(purpose, catalog.resolveLocale(null), null)).version
        : null;
    states.push({
      subjectId: 'example',
      purpose,
      status: e.status,
      changedAt,
      source: e.source ?? 'whatsapp',
      statusBeforePending: null,
      pendingExpiresAt: null,
      doubleOptInAt: e.doubleOptInAt ?? (e.status === 'opted_in' ? changedAt : null),
      textVersion: e.textVersion ?? current,
      occurredAt: changedAt,
      withdrawnAt: null,
      crmOptedOutAt: null,
      crmGrantedAt: null,
      requestedAt: null,
    });
  }
  return states;
}
