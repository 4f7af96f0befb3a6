import { z } from 'zod';
import { fromBase64 } from './crypto/encoding.ts';

/** Roles an API key can have (ARCHITECTURE.md, external contract). */
export const ROLES = ['admin', 'editor', 'operator', 'auditor', 'intake'] as const;
export type Role = (typeof ROLES)[number];

const secret = z.string().trim().min(1);
const optionalSecret = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();
const url = z.url({ protocol: /^https?$/ });

const piiKey = secret.refine(
  (s) => {
    try {
      return fromBase64(s).length === 32;
    } catch {
      return false;
    }
  },
  { message: 'must be base64 of exactly 32 random bytes (openssl rand -base64 32)' },
);

const apiKeys = secret.transform((s, ctx) => {
  const keys: Array<{ role: Role; token: string }> = [];
  for (const pair of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = pair.indexOf(':');
    const role = pair.slice(0, i) as Role;
    const token = pair.slice(i + 1);
    if (i < 1 || !ROLES.includes(role)) {
      ctx.addIssue({
        code: 'custom',
        message: `each entry must be role:token with role one of ${ROLES.join(', ')}`,
      });
      return z.NEVER;
    }
    if (token.length < 16) {
      ctx.addIssue({ code: 'custom', message: `the ${role} token is shorter than 16 characters` });
      return z.NEVER;
    }
    keys.push({ role, token });
  }
  if (keys.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'no role:token pairs' });
    return z.NEVER;
  }
  return keys;
});

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/**
 * The whole configuration, one zod schema. Node reads it from `process.env`, Workers from the
 * bindings of each request. Names are the product's contract (README, ARCHITECTURE.md).
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(8787, 1, 65535),
  DATA_DIR: z.string().default('./data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Node: `json` lines or readable `pretty` lines (pino-pretty); default pretty in development, json otherwise */
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  PII_KEY: piiKey,
  API_KEYS: apiKeys,
  WHATSAPP_APP_SECRET: secret,
  WHATSAPP_VERIFY_TOKEN: secret,
  WHATSAPP_ACCESS_TOKEN: optionalSecret,
  WHATSAPP_PHONE_NUMBER_ID: optionalSecret,
  WHATSAPP_GRAPH_URL: url.default('https://graph.facebook.com/v23.0'),
  HUBSPOT_ACCESS_TOKEN: optionalSecret,
  HUBSPOT_CLIENT_SECRET: optionalSecret,
  HUBSPOT_BASE_URL: url.default('https://api.hubapi.com'),
  SALESFORCE_LOGIN_URL: url.default('https://login.salesforce.com'),
  SALESFORCE_CLIENT_ID: optionalSecret,
  SALESFORCE_CLIENT_SECRET: optionalSecret,
  SALESFORCE_API_VERSION: z
    .string()
    .regex(/^\d+\.\d$/)
    .default('62.0'),
  SALESFORCE_ORG_ID: optionalSecret,
  SALESFORCE_WEBHOOK_SECRET: optionalSecret,
  MAPPINGS_DIR: z.string().default('./mappings'),
  /** requests per 10 s our HubSpot budget allows (the app's limit: 100 Free/Starter, 190 Pro/Enterprise) */
  HUBSPOT_REQUESTS_PER_10S: int(100, 1, 1_000),
  /** Salesforce calls in flight at once (the org allows 25 long-running ones; keep well below) */
  SALESFORCE_CONCURRENCY: int(4, 1, 25),
  /** the public origin webhooks are called at (HubSpot signs the full URL); default: the request's own URL */
  PUBLIC_URL: url.optional(),
  /** how often the whole CRM state is compared with the ledger (0 = never; `npm run reconcile` any time) */
  RECONCILE_EVERY_HOURS: int(24, 0, 24 * 30),
  /** days from an erasure request to its due date (Art. 12(3): one month) */
  ERASURE_DUE_DAYS: int(30, 1, 90),
  /** how Salesforce records are erased: deleted, or anonymised by setting Individual.ShouldForget */
  SALESFORCE_ERASE_MODE: z.enum(['delete', 'should_forget']).default('delete'),
  /** retention in days (Art. 5(1)(e)); 0 keeps for ever */
  RETENTION_UNCONFIRMED_DAYS: int(30, 0, 3650),
  RETENTION_MESSAGES_DAYS: int(90, 0, 3650),
  RETENTION_JOBS_DAYS: int(30, 0, 3650),
  RETENTION_DEAD_LETTERS_DAYS: int(90, 0, 3650),
  RETENTION_DEDUPE_DAYS: int(30, 7, 3650),
  /** the audit log (admin actions, failed sign-ins counted per client network and hour) */
  RETENTION_AUDIT_DAYS: int(365, 0, 3650),
  /** failed sign-ins and bearer tokens per client address in any 60 s; more are refused with 429 (0 = no limit) */
  AUTH_FAILURES_PER_MINUTE: int(10, 0, 100_000),
  /** failed attempts per key prefix (the token's first 8 characters), from any address, in any 60 s (0 = no limit) */
  AUTH_KEY_FAILURES_PER_MINUTE: int(30, 0, 100_000),
  /**
   * the request header a trusted reverse proxy puts the client's address in (`X-Forwarded-For`: its
   * last entry, the one that proxy added); unset: the TCP peer on Node, `CF-Connecting-IP` on Workers
   */
  CLIENT_ADDRESS_HEADER: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9-]*$/, 'must be a header name such as X-Forwarded-For')
    .transform((s) => (s === '' ? undefined : s))
    .optional(),
  CATALOG_DIR: z.string().default('./catalog'),
  /** how long a double opt-in stays pending */
  DOI_TTL_HOURS: int(72, 1, 24 * 90),
  /** largest accepted request body */
  MAX_BODY_BYTES: int(1_048_576, 1024, 3 * 1_048_576),
  /** the controller's contact details for the record of processing (Art. 30(1)(a)): address, e-mail */
  CONTROLLER_CONTACT: optionalSecret.pipe(z.string().max(500).optional()),
  /** the data protection officer's contact details (Art. 30(1)(a), 37(7)) */
  DPO_CONTACT: optionalSecret.pipe(z.string().max(500).optional()),
  /** Node listen address (default all interfaces; `127.0.0.1` behind a local reverse proxy) */
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  /** Node: a client must send its complete request headers within this (slowloris); at most REQUEST_TIMEOUT_SECONDS */
  HEADERS_TIMEOUT_SECONDS: int(20, 1, 600),
  /** Node: a client must send its complete request (headers and body) within this */
  REQUEST_TIMEOUT_SECONDS: int(60, 1, 3600),
  /** Node: an idle keep-alive connection is closed after this */
  KEEP_ALIVE_TIMEOUT_SECONDS: int(5, 1, 600),
  /** Node: open connections at most; more are closed at once */
  MAX_CONNECTIONS: int(1024, 1, 1_000_000),
  /**
   * ISO 3166 alpha-2 country used to read national formats typed by people (console, API). Off by
   * default; never applied to identifiers that come from Meta.
   */
  DEFAULT_COUNTRY: z
    .string()
    .trim()
    .transform((s) => s.toUpperCase())
    .pipe(z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166 alpha-2 country code such as DE'))
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** older PII keys still accepted while `consent-sync keys rotate` moves data to PII_KEY */
  PII_KEYS_RETIRED: z
    .string()
    .trim()
    .default('')
    .transform((s, ctx) => {
      const keys = s
        .split(',')
        .map((k) => k.trim())
        .filter(Boolean);
      for (const k of keys) {
        const ok = piiKey.safeParse(k).success;
        if (!ok) {
          ctx.addIssue({ code: 'custom', message: 'each retired key must be base64 of exactly 32 bytes' });
          return z.NEVER;
        }
      }
      return keys;
    }),
  /**
   * Workers: people the every-minute cron moves to PII_KEY while PII_KEYS_RETIRED is set (one page,
   * a dozen D1 queries whatever its size; lower it on the Free plan's 10 ms of CPU per invocation)
   */
  KEY_ROTATION_BATCH: int(50, 1, 1_000),
  /** accept Salesforce Outbound Messages (SOAP) as change signals: `on` or `off` (default; Flow callouts are preferred) */
  SALESFORCE_OUTBOUND_MESSAGES: z.enum(['on', 'off']).default('off'),
  /**
   * Node: `on` decides the WhatsApp inbox on a worker thread with its own SQLite connection, so
   * acknowledging and deciding use two cores; `off` decides on the main thread; `auto` (default):
   * `on` when the process may use two cores or more (docs/operations.md)
   */
  DECIDER_THREAD: z.enum(['auto', 'on', 'off']).default('auto'),
  /**
   * Node, decider thread only: its nice value (0 = the main thread's priority, default; up to 19).
   * Higher lets acknowledgements win a contended core, at the cost of decisions waiting longer
   * under overload (docs/operations.md, _The decider thread_)
   */
  DECIDER_NICE: int(0, 0, 19),
  /** how far a sender's `occurredAt` may lie ahead of receipt time before it is capped (clock skew) */
  CLOCK_SKEW_SECONDS: int(300, 0, 3600),
  /**
   * at most one opt-out confirmation per person and purposes within this many seconds: a STOP
   * from someone already opted out is recorded, not answered again (0 = answer every STOP)
   */
  REPLY_THROTTLE_SECONDS: int(3600, 0, 604_800),
  /** `POST /v1/consents` requests one API key may make per rolling minute (0 = no limit) */
  INTAKE_RATE_PER_KEY_PER_MINUTE: int(30, 0, 100_000),
  /** `POST /v1/consents` requests for one phone number per rolling hour, all keys together (0 = no limit) */
  INTAKE_RATE_PER_NUMBER_PER_HOUR: int(3, 0, 1_000),
});

export type Config = z.infer<typeof configSchema>;

/** Secrets that production requires (everything else has a default or enables a connector). */
export const REQUIRED_SECRETS = [
  'PII_KEY',
  'API_KEYS',
  'WHATSAPP_APP_SECRET',
  'WHATSAPP_VERIFY_TOKEN',
  'WHATSAPP_ACCESS_TOKEN',
  'WHATSAPP_PHONE_NUMBER_ID',
] as const;

export class ConfigError extends Error {
  readonly variables: string[];
  constructor(variables: string[], message: string) {
    super(message);
    this.name = 'ConfigError';
    this.variables = variables;
  }
}

/**
 * Parses the environment once; a failure names every bad variable (never its value).
 *
 * @example
 * const config = parseConfig(process.env); // throws ConfigError('PII_KEY is missing …')
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const result = configSchema.safeParse(env);
  const problems = new Map<string, string>();
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? 'configuration');
      const missing = env[name] === undefined || env[name]?.trim() === '';
      problems.set(name, missing ? 'is missing' : issue.message);
    }
  }
  // Production's required secrets are checked whether or not the rest parsed, so one start names
  // every problem (a second round after fixing the first ones would name the optional ones).
  const production = result.success ? result.data.NODE_ENV === 'production' : env.NODE_ENV === 'production';
  if (production) {
    for (const name of REQUIRED_SECRETS) {
      if (!problems.has(name) && !env[name]?.trim()) problems.set(name, 'is missing');
    }
  }
  if (problems.size > 0) {
    const lines = [...problems].map(([n, p]) => `${n} ${p}`);
    throw new ConfigError([...problems.keys()], `Configuration error: ${lines.join('; ')}`);
  }
  return (result as { data: Config }).data;
}
