/**
 * The GDPR duties of ARCHITECTURE.md (and the record's own duties), each checked against the
 * running configuration and the stored state: met (`ok`), met with a caveat (`warn`), or not
 * met (`fail`). Details carry counts and setting names, never personal data.
 */
import type { ConnectorName } from '../../connectors/types.ts';
import type { Services } from '../app/services.ts';
import type { Mapping } from '../core/mapping.ts';
import { type Facts, whatsappSending } from './record.ts';
import type { ChecklistItem, CheckStatus } from './types.ts';

/** Dead letters older than this fail the sync check (younger ones warn). */
export const STUCK_DEAD_LETTER_DAYS = 7;

/** Hosts that are placeholders, not a real privacy policy (RFC 2606 and the shipped catalog). */
const PLACEHOLDER_HOST = /(^|\.)(example\.(com|org|net)|example|test|invalid|localhost)$/i;
const PLACEHOLDER_NAME = /^(beispiel|example|acme)\b/i;

interface Check {
  status: CheckStatus;
  detail: string;
}

/** The worst of several findings; their details joined, the failing ones first. */
function combine(findings: Check[], okDetail: string): Check {
  const rank: Record<CheckStatus, number> = { fail: 2, warn: 1, ok: 0 };
  const bad = findings.filter((f) => f.status !== 'ok').sort((a, b) => rank[b.status] - rank[a.status]);
  if (bad.length === 0) return { status: 'ok', detail: okDetail };
  return { status: bad[0]!.status, detail: bad.map((f) => f.detail).join(' ') };
}

/** True when a push field carries an opt-out: the global flag or a purpose's status. */
const pushesOptOut = (m: Mapping) =>
  m.fields.some((f) => f.direction !== 'pull' && (f.local === 'optedOut' || f.local.endsWith('.status')));

async function consentProof(s: Services, facts: Facts): Promise<Check> {
  const changed = await s.catalog.checkUsedTexts(await s.store.allTexts());
  return combine(
    [
      facts.ledger.ok
        ? { status: 'ok', detail: '' }
        : {
            status: 'fail',
            detail: `The ledger chain does not verify (${facts.ledger.reason}): run GET /v1/ledger/verify.`,
          },
      changed.length === 0
        ? { status: 'ok', detail: '' }
        : {
            status: 'fail',
            detail: `${changed.length} consent text version(s) in use were changed in the catalog.`,
          },
    ],
    `${facts.ledger.events} ledger events verify; every text version in use matches the catalog.`,
  );
}

function withdrawal(s: Services, connectors: ConnectorName[]): Check {
  const c = s.config;
  const findings: Check[] = connectors
    .filter((n) => !pushesOptOut(s.mappings.get(n)))
    .map((n) => ({
      status: 'fail' as const,
      detail: `The ${n} mapping writes no opt-out (no push field for optedOut or a purpose's status): opt-outs do not reach ${n}.`,
    }));
  if (connectors.includes('hubspot') && !c.HUBSPOT_CLIENT_SECRET)
    findings.push({
      status: 'warn',
      detail: 'HUBSPOT_CLIENT_SECRET is not set: opt-outs made in HubSpot arrive only by reconciliation.',
    });
  if (connectors.includes('salesforce') && !c.SALESFORCE_WEBHOOK_SECRET && !c.SALESFORCE_ORG_ID)
    findings.push({
      status: 'warn',
      detail:
        'Neither SALESFORCE_ORG_ID nor SALESFORCE_WEBHOOK_SECRET is set: opt-outs made in Salesforce arrive only by reconciliation.',
    });
  const to = connectors.length ? `, and pushed to ${connectors.join(', ')}` : '';
  return combine(
    findings,
    `STOP keywords, buttons and Meta's opt-out are applied before the webhook is acknowledged${to}.`,
  );
}

function doubleOptIn(s: Services, connectors: ConnectorName[]): Check {
  const findings: Check[] = [];
  if (!whatsappSending(s.config))
    findings.push({
      status: 'fail',
      detail:
        'WhatsApp sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID): confirmation requests cannot be sent.',
    });
  for (const n of connectors.filter((x) => s.mappings.get(x).trustOptIn))
    findings.push({
      status: 'warn',
      detail: `The ${n} mapping has trustOptIn: an opt-in made in ${n} counts as consent without a WhatsApp double opt-in.`,
    });
  return combine(
    findings,
    `Consent is pending until confirmed on WhatsApp; unconfirmed requests expire after ${s.config.DOI_TTL_HOURS} hours.`,
  );
}

function optOutHint(s: Services): Check {
  const locales = s.catalog.texts.locales;
  const missing = locales.filter((l) => !s.catalog.texts.messages.optOutHint[l]);
  if (missing.length)
    return { status: 'fail', detail: `No opt-out hint for locale(s) ${missing.join(', ')}.` };
  return {
    status: 'ok',
    detail: `The send guard appends the opt-out hint (${locales.join(', ')}) and refuses to send without consent; every template declares its hint.`,
  };
}

function minimisation(s: Services, connectors: ConnectorName[]): Check {
  const findings: Check[] = connectors.map((n): Check => {
    if (!s.mappings.has(n))
      return { status: 'fail', detail: `${n} is enabled without a mapping (whitelist).` };
    const n2 = s.mappings.get(n).fields.length;
    return n2 === 0
      ? { status: 'fail', detail: `${n} is enabled with an empty whitelist.` }
      : { status: 'ok', detail: '' };
  });
  const list = connectors.map((n) => `${n}: ${s.mappings.get(n).fields.length} fields`).join('; ');
  return combine(
    findings,
    `Numbers and evidence are encrypted at rest; only whitelisted fields travel${list ? ` (${list})` : ' (no CRM connected)'}.`,
  );
}

async function erasureFanOut(s: Services, connectors: ConnectorName[]): Promise<Check> {
  const dead = (await s.store.listJobs({ status: 'dead', limit: 1000 })).filter((j) =>
    j.kind.startsWith('erasure.'),
  );
  if (dead.length)
    return {
      status: 'fail',
      detail: `${dead.length} erasure task(s) are dead letters (${[...new Set(dead.map((j) => j.kind))].join(', ')}): retry them in GET /v1/sync/jobs?status=dead.`,
    };
  return {
    status: 'ok',
    detail: `Erasures reach ${['local', ...connectors].join(', ')}; tombstones keep erased people from coming back.`,
  };
}

async function erasureDeadline(s: Services): Promise<Check> {
  const overdue = await s.store.listErasures({ overdueAt: s.clock().toISOString(), limit: 1000 });
  return combine(
    [
      overdue.length
        ? {
            status: 'fail',
            detail: `${overdue.length} erasure request(s) are overdue (oldest due ${overdue[0]!.dueAt}): GET /v1/erasures?overdue=true.`,
          }
        : { status: 'ok', detail: '' },
      s.config.ERASURE_DUE_DAYS > 30
        ? {
            status: 'warn',
            detail: `ERASURE_DUE_DAYS is ${s.config.ERASURE_DUE_DAYS}: longer than one month needs a reason given to the person (Art. 12(3)).`,
          }
        : { status: 'ok', detail: '' },
    ],
    `No erasure request is overdue; each is due ${s.config.ERASURE_DUE_DAYS} days after receipt.`,
  );
}

function security(s: Services): Check {
  const c = s.config;
  const findings: Check[] = [];
  const dev = c.API_KEYS.filter((k) => /^dev-/.test(k.token)).map((k) => k.role);
  if (dev.length)
    findings.push({
      status: 'fail',
      detail: `Development-mode API keys are in use (roles ${dev.join(', ')}): set real API_KEYS.`,
    });
  if (c.NODE_ENV !== 'production')
    findings.push({
      status: 'warn',
      detail: `NODE_ENV is ${c.NODE_ENV}: in production every secret must be set explicitly.`,
    });
  if (c.PUBLIC_URL?.startsWith('http://'))
    findings.push({ status: 'warn', detail: 'PUBLIC_URL is not https.' });
  return combine(
    findings,
    'Signed webhooks, role-based hashed API keys, audit log, no personal data in logs.',
  );
}

async function syncHealth(s: Services, connectors: ConnectorName[]): Promise<Check> {
  const dead = (await s.store.listJobs({ status: 'dead', limit: 1000 })).filter((j) =>
    j.kind.startsWith('sync.'),
  );
  const cutoff = new Date(s.clock().getTime() - STUCK_DEAD_LETTER_DAYS * 86_400_000).toISOString();
  const stuck = dead.filter((j) => j.updatedAt < cutoff);
  if (stuck.length)
    return {
      status: 'fail',
      detail: `${stuck.length} sync dead letter(s) older than ${STUCK_DEAD_LETTER_DAYS} days: a CRM has not received consent changes.`,
    };
  if (dead.length)
    return {
      status: 'warn',
      detail: `${dead.length} recent sync dead letter(s): retry them in GET /v1/sync/jobs?status=dead.`,
    };
  return {
    status: 'ok',
    detail: connectors.length ? `No sync dead letters (${connectors.join(', ')}).` : 'No CRM connected.',
  };
}

function storageLimitation(s: Services): Check {
  const c = s.config;
  const unlimited = (
    [
      'RETENTION_UNCONFIRMED_DAYS',
      'RETENTION_MESSAGES_DAYS',
      'RETENTION_JOBS_DAYS',
      'RETENTION_DEAD_LETTERS_DAYS',
      'RETENTION_AUDIT_DAYS',
    ] as const
  ).filter((k) => c[k] === 0);
  if (unlimited.length) return { status: 'warn', detail: `${unlimited.join(', ')} = 0: kept without limit.` };
  return { status: 'ok', detail: 'Operational data is purged hourly after its RETENTION_* period.' };
}

function transparency(s: Services): Check {
  const { business } = s.catalog.texts;
  const host = new URL(business.privacyPolicyUrl).hostname;
  return combine(
    [
      PLACEHOLDER_HOST.test(host)
        ? {
            status: 'fail',
            detail: `The privacy policy link (${business.privacyPolicyUrl}) is a placeholder: set business.privacyPolicyUrl in the catalog.`,
          }
        : { status: 'ok', detail: '' },
      PLACEHOLDER_NAME.test(business.name)
        ? { status: 'warn', detail: `The business name "${business.name}" looks like a placeholder.` }
        : { status: 'ok', detail: '' },
    ],
    `Consent texts and the first message name ${business.name} and link the privacy policy.`,
  );
}

function recordContacts(s: Services): Check {
  const missing = (['CONTROLLER_CONTACT', 'DPO_CONTACT'] as const).filter((k) => !s.config[k]);
  if (missing.length)
    return {
      status: 'warn',
      detail: `${missing.join(', ')} not set: the record of processing lacks contact details.`,
    };
  return { status: 'ok', detail: 'Controller and DPO contact details are in the record.' };
}

/**
 * @example
 * const items = await buildChecklist(services, facts); // [{ id: 'consent-proof', status: 'ok', … }, …]
 */
export async function buildChecklist(s: Services, facts: Facts): Promise<ChecklistItem[]> {
  const cs = facts.connectors;
  const item = (id: string, duty: string, article: string, check: Check): ChecklistItem => ({
    id,
    duty,
    article,
    ...check,
  });
  return [
    item('consent-proof', 'prove consent', 'Art. 7(1)', await consentProof(s, facts)),
    item('withdrawal', 'withdraw as easily as consent', 'Art. 7(3)', withdrawal(s, cs)),
    item('double-opt-in', 'double opt-in', 'Art. 7(1)', doubleOptIn(s, cs)),
    item('opt-out-hint', 'every message carries an opt-out hint', 'Art. 7(3), 21(4)', optOutHint(s)),
    item('minimisation', 'minimisation: whitelists, encryption', 'Art. 5(1)(c), 25', minimisation(s, cs)),
    item('erasure', 'erasure told to every recipient', 'Art. 17, 19', await erasureFanOut(s, cs)),
    item('erasure-deadline', 'erasure within one month', 'Art. 12(3)', await erasureDeadline(s)),
    item('security', 'security of processing', 'Art. 32', security(s)),
    item('sync', 'changes reach every CRM', 'Art. 7(3), 19', await syncHealth(s, cs)),
    item('storage-limitation', 'storage limitation', 'Art. 5(1)(e)', storageLimitation(s)),
    item('transparency', 'information: privacy policy', 'Art. 12, 13', transparency(s)),
    item('record', 'record of processing: contacts', 'Art. 30(1)(a), 37(7)', recordContacts(s)),
  ];
}
