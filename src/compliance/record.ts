/**
 * The record of processing (Art. 30(1)), derived from the running configuration: the catalog's
 * purposes and exact wordings, the enabled connectors and their whitelists, where data is stored,
 * the retention settings, and the security measures this deployment actually has in place.
 */
import type { ConnectorName } from '../../connectors/types.ts';
import type { Services } from '../app/services.ts';
import type { Config } from '../config.ts';
import type { Mapping } from '../core/mapping.ts';
import type {
  DataCategory,
  ProcessingRecord,
  Recipient,
  RecordPurpose,
  RetentionRule,
  SecurityMeasure,
  StorageLocation,
} from './types.ts';

/** What the checklist and the record share, read once per report. */
export interface Facts {
  connectors: ConnectorName[];
  ledger: { ok: boolean; events: number; reason: string | null };
  storedKeys: { active: number; revoked: number };
}

const VENDORS: Record<ConnectorName, { name: string; vendor: string; endpoint: (c: Config) => string }> = {
  hubspot: {
    name: 'HubSpot CRM',
    vendor: 'HubSpot, Inc. (for EU customers HubSpot Ireland Ltd.)',
    endpoint: (c) => c.HUBSPOT_BASE_URL,
  },
  salesforce: {
    name: 'Salesforce (Sales Cloud)',
    vendor: 'Salesforce, Inc. (for EU customers Salesforce Ireland Ltd.)',
    endpoint: (c) => c.SALESFORCE_LOGIN_URL,
  },
};

const US_TRANSFER =
  'the vendor may process data in the USA: check its data processing agreement (EU–US Data Privacy Framework or standard contractual clauses)';

const days = (n: number) => (n > 0 ? `${n} days` : 'kept (0 = no limit)');

export const whatsappSending = (c: Config) => Boolean(c.WHATSAPP_ACCESS_TOKEN && c.WHATSAPP_PHONE_NUMBER_ID);

/** Where the database is: D1 on Workers, the SQLite files under DATA_DIR on Node (the database and the inbox). */
export function storageLocation(config: Config): StorageLocation {
  const onWorkers = typeof navigator !== 'undefined' && navigator.userAgent === 'Cloudflare-Workers';
  if (onWorkers) return { runtime: 'workers', engine: 'Cloudflare D1', location: 'D1 database bound as DB' };
  return {
    runtime: 'node',
    engine: 'SQLite',
    location: ['consent-sync.db', 'inbox.db']
      .map((f) => `${config.DATA_DIR.replace(/\/+$/, '')}/${f}`)
      .join(', '),
  };
}

async function purposes(s: Services): Promise<RecordPurpose[]> {
  const { texts } = s.catalog;
  return Promise.all(
    s.catalog.purposes.map(async (id) => {
      const out: RecordPurpose['texts'] = [];
      for (const [locale, t] of Object.entries(texts.consentTexts[id] ?? {})) {
        for (const version of Object.keys(t.versions)) {
          const r = await s.catalog.consentText(id, locale, version);
          out.push({ locale, version, current: version === t.current, text: r.text, sha256: r.sha256 });
        }
      }
      return {
        id,
        label: { ...(texts.purposes[id]?.label ?? {}) },
        legalBasis: 'consent, Art. 6(1)(a) (asked by double opt-in, withdrawable at any time, Art. 7(3))',
        texts: out,
      };
    }),
  );
}

/** A whitelisted field: `remote ← local` as written to the CRM, `local ← remote` as read from it. */
const field = (f: Mapping['fields'][number], read = false) =>
  read ? `${f.local} ← ${f.remote} (${f.direction})` : `${f.remote} ← ${f.local} (${f.direction})`;

function recipients(s: Services, connectors: ConnectorName[]): Recipient[] {
  const c = s.config;
  const out: Recipient[] = [
    {
      id: 'whatsapp',
      name: 'WhatsApp Business Platform (Cloud API)',
      kind: 'messaging',
      vendor: 'Meta Platforms Ireland Ltd.',
      endpoint: c.WHATSAPP_GRAPH_URL,
      sent: whatsappSending(c)
        ? [
            'the person’s WhatsApp number (as recipient)',
            'the double opt-in request with the exact consent wording, confirmations',
            'business messages, each with the opt-out hint (sent only with consent for their purpose)',
          ]
        : ['nothing: sending is not configured (WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID)'],
      received: [
        'signed webhooks: replies (only consent keywords and buttons become events), delivery statuses',
        'marketing opt-out preferences (user_preferences)',
      ],
      transfers: US_TRANSFER,
    },
  ];
  for (const name of connectors) {
    const m = s.mappings.get(name);
    const v = VENDORS[name];
    out.push({
      id: name,
      name: v.name,
      kind: 'crm',
      vendor: v.vendor,
      endpoint: v.endpoint(c),
      sent: [
        ...m.fields.filter((f) => f.direction !== 'pull').map((f) => field(f)),
        `the number, to find the person's records by ${m.match.field} (${m.match.objects.join(', ')})`,
        'erasure requests for the person’s records (Art. 17, 19)',
      ],
      received: [
        `${m.match.field} (to link a record to a person)`,
        ...m.fields.filter((f) => f.direction !== 'push').map((f) => field(f, true)),
        'deletion events of records',
      ],
      transfers: US_TRANSFER,
    });
  }
  return out;
}

function categories(s: Services, connectors: ConnectorName[]): DataCategory[] {
  const out: DataCategory[] = [
    {
      category: 'Contact data',
      items: ['mobile phone number (WhatsApp number), normalised to E.164'],
      storage:
        'AES-GCM encrypted under a per-person key wrapped by PII_KEY; found by a keyed hash (HMAC); shredded on erasure',
    },
    {
      category: 'Consent records',
      items: [
        'per purpose: status, time of change, source, double opt-in time',
        'consent text version and SHA-256 of its exact wording',
        'append-only, hash-chained ledger of every change',
      ],
      storage: 'ledger and consent state tables (no number in clear)',
    },
    {
      category: 'Evidence',
      items: [
        'WhatsApp message ids of replies and of the confirmation request',
        'web form URL and caller reference',
        'matched keyword or button, locale the wording was shown in, API key id',
      ],
      storage: 'encrypted with the person’s key; unreadable after erasure',
    },
    {
      category: 'Preferences and messaging metadata',
      items: [
        'preferred language, time the privacy notice was sent',
        'ids of WhatsApp messages sent, with purpose and kind (no message text)',
      ],
      storage: 'subjects and sent_messages tables',
    },
    {
      category: 'Data subject requests',
      items: [
        'erasure requests: keyed hash of the number, source, dates, outcome per system',
        'suppression tombstone: keyed hash only',
      ],
      storage: 'erasures, erasure_tasks and tombstones tables (no number in clear)',
    },
  ];
  if (connectors.length > 0) {
    out.push({
      category: 'CRM synchronisation (whitelisted fields only)',
      items: [
        ...connectors.flatMap((n) => s.mappings.get(n).fields.map((f) => `${n}: ${field(f)}`)),
        'ids of linked CRM records and the values last written there',
      ],
      storage: 'crm_links and sync_writes tables; nothing outside the mappings is read or written',
    });
  }
  return out;
}

function retention(c: Config): RetentionRule[] {
  return [
    {
      data: 'consent ledger, states and evidence',
      period: 'kept until the person’s erasure (proof of consent, Art. 7(1))',
      setting: null,
    },
    {
      data: 'pending double opt-in',
      period: `${c.DOI_TTL_HOURS} hours, then expired`,
      setting: 'DOI_TTL_HOURS',
    },
    {
      data: 'number of a person who never confirmed',
      period: days(c.RETENTION_UNCONFIRMED_DAYS),
      setting: 'RETENTION_UNCONFIRMED_DAYS',
    },
    {
      data: 'ids of WhatsApp messages sent',
      period: days(c.RETENTION_MESSAGES_DAYS),
      setting: 'RETENTION_MESSAGES_DAYS',
    },
    { data: 'finished sync jobs', period: days(c.RETENTION_JOBS_DAYS), setting: 'RETENTION_JOBS_DAYS' },
    {
      data: 'dead letters',
      period: days(c.RETENTION_DEAD_LETTERS_DAYS),
      setting: 'RETENTION_DEAD_LETTERS_DAYS',
    },
    {
      data: 'webhook dedupe keys, values last written to CRMs',
      period: days(c.RETENTION_DEDUPE_DAYS),
      setting: 'RETENTION_DEDUPE_DAYS',
    },
    {
      data: 'audit log (admin actions; failed sign-ins per client network and hour)',
      period: days(c.RETENTION_AUDIT_DAYS),
      setting: 'RETENTION_AUDIT_DAYS',
    },
    {
      data: 'erasure requests',
      period: `answered within ${c.ERASURE_DUE_DAYS} days of receipt`,
      setting: 'ERASURE_DUE_DAYS',
    },
    {
      data: 'erasure receipts and suppression tombstones (keyed hash only)',
      period: 'kept (proof of erasure; keeps erased people from being messaged again)',
      setting: null,
    },
    { data: 'audit log (API key ids, no personal data)', period: 'kept', setting: null },
  ];
}

function security(s: Services, connectors: ConnectorName[], facts: Facts): SecurityMeasure[] {
  const c = s.config;
  const out: SecurityMeasure[] = [
    {
      measure: 'Signed WhatsApp webhooks',
      inPlace: true,
      detail: 'X-Hub-Signature-256 (HMAC-SHA256 with WHATSAPP_APP_SECRET) checked before anything is read',
    },
  ];
  if (connectors.includes('hubspot'))
    out.push({
      measure: 'Signed HubSpot webhooks',
      inPlace: Boolean(c.HUBSPOT_CLIENT_SECRET),
      detail: c.HUBSPOT_CLIENT_SECRET
        ? 'signature v3 with a 5-minute window'
        : 'HUBSPOT_CLIENT_SECRET is not set: HubSpot webhooks are refused',
    });
  if (connectors.includes('salesforce'))
    out.push({
      measure: 'Authenticated Salesforce callbacks',
      inPlace: Boolean(c.SALESFORCE_ORG_ID && c.SALESFORCE_WEBHOOK_SECRET),
      detail: `Outbound Messages ${c.SALESFORCE_ORG_ID ? 'only from SALESFORCE_ORG_ID' : 'not restricted to an org (SALESFORCE_ORG_ID unset)'}; Flow callouts ${c.SALESFORCE_WEBHOOK_SECRET ? 'need SALESFORCE_WEBHOOK_SECRET' : 'refused (SALESFORCE_WEBHOOK_SECRET unset)'}`,
    });
  out.push(
    {
      measure: 'Personal data encrypted at rest',
      inPlace: true,
      detail:
        'numbers and evidence AES-GCM encrypted per person (keys wrapped by PII_KEY); lookups by keyed hash',
    },
    {
      measure: 'Role-based API keys',
      inPlace: true,
      detail: `${c.API_KEYS.length} key(s) from API_KEYS, ${facts.storedKeys.active} active and ${facts.storedKeys.revoked} revoked key(s) made through the API; roles admin, editor, operator, auditor, intake`,
    },
    {
      measure: 'API keys stored hashed',
      inPlace: true,
      detail:
        'keys made through the API are kept as SHA-256 of the token only, shown once; compared in constant time',
    },
    {
      measure: 'Audit log of admin actions',
      inPlace: true,
      detail:
        'opt-outs, sends, retries, mapping changes, erasures, exports, API key changes: who (key id), what, when',
    },
    {
      measure: 'Hash-chained consent ledger',
      inPlace: facts.ledger.ok,
      detail: facts.ledger.ok
        ? `${facts.ledger.events} events verify`
        : `the chain does not verify (${facts.ledger.reason ?? 'broken'})`,
    },
    {
      measure: 'No personal data in logs',
      inPlace: true,
      detail: 'routes logged by pattern, never by path; no numbers, message text or tokens',
    },
    {
      measure: 'Production configuration',
      inPlace: c.NODE_ENV === 'production',
      detail: `NODE_ENV=${c.NODE_ENV}${c.NODE_ENV === 'production' ? ': every secret is required at start' : ''}`,
    },
  );
  return out;
}

/**
 * @example
 * const record = await buildRecord(services, facts);
 */
export async function buildRecord(s: Services, facts: Facts): Promise<ProcessingRecord> {
  const { business } = s.catalog.texts;
  return {
    controller: {
      name: business.name,
      contact: s.config.CONTROLLER_CONTACT ?? null,
      dpoContact: s.config.DPO_CONTACT ?? null,
      privacyPolicyUrl: business.privacyPolicyUrl,
    },
    processing:
      'Keeping WhatsApp consent and opt-out state in step with the connected CRMs: asking for consent by double opt-in, recording consent and withdrawal with proof, sending WhatsApp messages only with consent, and passing opt-outs and erasure requests on to every connected system.',
    dataSubjects: [
      'people asked for, giving or withdrawing consent to WhatsApp messages (customers, prospects)',
      'contacts in the connected CRMs whose consent state is kept in step',
    ],
    purposes: await purposes(s),
    categories: categories(s, facts.connectors),
    recipients: recipients(s, facts.connectors),
    storage: storageLocation(s.config),
    retention: retention(s.config),
    security: security(s, facts.connectors, facts),
  };
}
