/**
 * `consent-sync doctor`: checks an installation the way `npm start` would use it and says what to
 * fix: the configuration (same zod schema, each problem by variable name, never a value), the data
 * directory and database (migrations, integrity), the catalog, the PII keys (a rotation pending or
 * finished, stored lookup keys no configured key opens), each configured CRM (credentials,
 * request headroom) and that every mapped property or field exists there with a fitting type.
 * `--fix` applies pending migrations and creates missing HubSpot properties (group `consent_sync`).
 * Reads only; without `--fix` it writes nothing but development secrets, as `npm start` does.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { createHubSpotSchema } from '../../connectors/hubspot/schema.ts';
import { createSalesforceSchema } from '../../connectors/salesforce/schema.ts';
import {
  ConnectorFailure,
  type ConnectorName,
  type CrmSchema,
  type NewField,
} from '../../connectors/types.ts';
import { type Config, ConfigError, parseConfig } from '../config.ts';
import type { Mapping } from '../core/mapping.ts';
import { withDevSecrets } from '../runtime/dev-secrets.ts';
import { nodeMappings } from '../runtime/mappings.node.ts';
import { Catalog } from '../service/catalog-service.ts';
import { LIST_APPLIED, pendingMigrations } from '../store/migrate.ts';
import { loadMigrations } from '../store/migrations.node.ts';
import { openSqliteStore } from '../store/sqlite.ts';
import { buildConnectors } from '../sync/connectors.ts';
import { MappingError, Mappings } from '../sync/mappings.ts';
import type { Env } from './boot.ts';
import { compareFields, newField, type ObjectReport } from './doctor-fields.ts';
import { checkPiiKeys } from './doctor-keys.ts';
import { checkNative } from './doctor-native.ts';
import { whatsappChannelCheck } from './doctor-subscriptions.ts';
import { type Check, checkList, type Io } from './output.ts';

export interface DoctorArgs {
  /** apply pending migrations and create missing HubSpot properties */
  fix: boolean;
}

/** The property group created HubSpot properties go into. */
export const PROPERTY_GROUP = { name: 'consent_sync', label: 'Consent sync (WhatsApp)' };

const CONFIG_HINTS: Record<string, string> = {
  PII_KEY: 'set it to base64 of 32 random bytes: openssl rand -base64 32',
  API_KEYS:
    'comma-separated role:token pairs, roles admin, editor, operator, auditor, intake; tokens of 16+ characters',
  WHATSAPP_ACCESS_TOKEN: 'a system user token of the WhatsApp Business app',
  WHATSAPP_PHONE_NUMBER_ID: 'the sending number id from WhatsApp Manager',
};

const CONNECTION_HINTS: Record<ConnectorName, Record<string, string>> = {
  hubspot: {
    UNAUTHORIZED:
      'HubSpot refused HUBSPOT_ACCESS_TOKEN: create a private app token with the crm.objects.contacts and crm.schemas.contacts scopes',
    FORBIDDEN:
      'the HubSpot token lacks a scope: it needs crm.objects.contacts.read/write and crm.schemas.contacts.read',
    NETWORK: 'no answer: check HUBSPOT_BASE_URL and the network',
  },
  salesforce: {
    AUTH_FAILED:
      'Salesforce refused the client credentials: check SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET and that the connected app allows the client credentials flow',
    ORG_MISMATCH: 'the credentials belong to another org than SALESFORCE_ORG_ID',
    UNAUTHORIZED: 'Salesforce refused the token: check the connected app run-as user',
    NETWORK: 'no answer: check SALESFORCE_LOGIN_URL and the network',
  },
};

const SALESFORCE_TYPE: Record<NewField['kind'], string> = {
  boolean: 'Checkbox',
  enum: 'Picklist',
  date: 'Date/Time',
  text: 'Text(255)',
  number: 'Number',
};

/** `Configuration error: A is missing; B must be …` → A → `is missing`, B → `must be …`. */
function configProblems(err: ConfigError): Map<string, string> {
  const segments = err.message.replace(/^Configuration error: /, '').split('; ');
  const out = new Map<string, string>();
  for (const name of err.variables) {
    const seg = segments.find((s) => s.startsWith(`${name} `));
    out.set(name, seg ? seg.slice(name.length + 1) : 'is not valid');
  }
  return out;
}

function checkDataDir(dataDir: string, checks: Check[]): boolean {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK);
    checks.push({ name: 'data directory', status: 'ok', detail: `${dataDir} is writable` });
    return true;
  } catch (e) {
    checks.push({
      name: 'data directory',
      status: 'fail',
      detail: `${dataDir} cannot be written (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
      hint: 'set DATA_DIR to a directory the service user may write',
    });
    return false;
  }
}

async function checkConfig(
  env: Env,
  dataDir: string,
  dirOk: boolean,
  checks: Check[],
): Promise<Config | null> {
  let effective = env;
  if ((env.NODE_ENV ?? 'development') !== 'production' && dirOk) {
    const dev = await withDevSecrets(env, dataDir);
    effective = dev.env;
    if (dev.fromFile.length > 0)
      checks.push({
        name: 'development mode',
        status: 'warn',
        detail: `${dev.fromFile.join(', ')} come from ${dev.file}`,
        hint: 'never in production: set NODE_ENV=production and real secrets',
      });
  }
  try {
    const config = parseConfig(effective);
    checks.push({ name: 'configuration', status: 'ok', detail: `valid (NODE_ENV=${config.NODE_ENV})` });
    return config;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const [name, problem] of configProblems(e))
      checks.push({
        name: `configuration ${name}`,
        status: 'fail',
        detail: `${name} ${problem}`,
        hint: CONFIG_HINTS[name] ?? 'see README, "Configuration"',
      });
    return null;
  }
}

/** Migrations and integrity, read-only unless `fix`. Returns whether the schema is current. */
async function checkDatabase(dataDir: string, fix: boolean, checks: Check[]): Promise<boolean> {
  const path = join(dataDir, 'consent-sync.db');
  const known = loadMigrations();
  const migrate = async () => {
    const store = openSqliteStore({ path });
    try {
      await store.migrate();
    } finally {
      await store.close();
    }
  };
  if (!existsSync(path)) {
    if (fix) {
      await migrate();
      checks.push({
        name: 'database',
        status: 'ok',
        detail: `created, ${known.length} migration(s) applied`,
      });
      return true;
    }
    checks.push({
      name: 'database',
      status: 'warn',
      detail: `no database at ${path} yet`,
      hint: 'the first start creates it (or run doctor --fix)',
    });
    return false;
  }
  let applied: string[] = [];
  let integrity = 'ok';
  let events = 0;
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    integrity = String(Object.values(db.prepare('PRAGMA quick_check').get() ?? {})[0] ?? 'unknown');
    try {
      applied = db
        .prepare(LIST_APPLIED)
        .all()
        .map((r) => String(r.name));
      events = Number(db.prepare('SELECT COUNT(*) AS n FROM ledger').get()?.n ?? 0);
    } catch {
      // No migrations table (or no ledger) yet: nothing applied.
    }
  } finally {
    db.close();
  }
  const pending = pendingMigrations(known, applied);
  const unknown = applied.filter((a) => !known.some((k) => k.name === a));
  if (integrity !== 'ok') {
    checks.push({
      name: 'database',
      status: 'fail',
      detail: 'SQLite integrity check failed',
      hint: 'stop the service and restore DATA_DIR from a backup',
    });
    return false;
  }
  if (unknown.length > 0) {
    checks.push({
      name: 'database',
      status: 'fail',
      detail: `migration(s) ${unknown.join(', ')} come from a newer consent-sync`,
      hint: 'run the version that wrote this database, or a newer one',
    });
    return false;
  }
  if (pending.length > 0 && !fix) {
    checks.push({
      name: 'database',
      status: 'warn',
      detail: `${pending.length} of ${known.length} migration(s) pending: ${pending.map((m) => m.name).join(', ')}`,
      hint: 'the next start applies them (or run doctor --fix)',
    });
    return false;
  }
  if (pending.length > 0) await migrate();
  checks.push({
    name: 'database',
    status: 'ok',
    detail:
      `${known.length} migration(s) applied${pending.length ? ` (${pending.length} just now)` : ''}, ` +
      `${events} ledger event(s), integrity ok`,
  });
  return true;
}

async function checkCatalog(config: Config, dataDir: string, storeReady: boolean, checks: Check[]) {
  const dir = resolve(config.CATALOG_DIR);
  try {
    const read = (f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const catalog = Catalog.load({
      texts: read('texts.json'),
      keywords: read('keywords.json'),
      templates: read('templates.json'),
    });
    let changed: string[] = [];
    if (storeReady) {
      const store = openSqliteStore({ path: join(dataDir, 'consent-sync.db') });
      try {
        changed = await catalog.checkUsedTexts(await store.allTexts());
      } finally {
        await store.close();
      }
    }
    if (changed.length > 0) {
      checks.push({
        name: 'catalog',
        status: 'fail',
        detail: changed.join('; '),
        hint: 'a used text version is immutable: restore its wording and add a new version instead',
      });
      return catalog;
    }
    checks.push({
      name: 'catalog',
      status: 'ok',
      detail: `purposes ${catalog.purposes.join(', ')}${storeReady ? '; used texts unchanged' : ''}`,
    });
    return catalog;
  } catch (e) {
    checks.push({
      name: 'catalog',
      status: 'fail',
      detail: `cannot load ${dir}: ${(e as Error).name}`,
      hint: 'check CATALOG_DIR and the JSON files in it (npm run texts:lock)',
    });
    return null;
  }
}

function schemaFor(name: ConnectorName, c: Config): CrmSchema {
  const quick = { attempts: 2, minBackoffMs: 200, maxWaitMs: 2_000, timeoutMs: 15_000 };
  if (name === 'hubspot')
    return createHubSpotSchema({
      accessToken: c.HUBSPOT_ACCESS_TOKEN as string,
      baseUrl: c.HUBSPOT_BASE_URL,
      ...quick,
    });
  return createSalesforceSchema({
    loginUrl: c.SALESFORCE_LOGIN_URL,
    clientId: c.SALESFORCE_CLIENT_ID as string,
    clientSecret: c.SALESFORCE_CLIENT_SECRET as string,
    apiVersion: c.SALESFORCE_API_VERSION,
    orgId: c.SALESFORCE_ORG_ID ?? null,
    ...quick,
  });
}

function fieldChecks(
  name: ConnectorName,
  mapping: Mapping,
  reports: ObjectReport[],
  canCreate: boolean,
): Check[] {
  return reports.map((r): Check => {
    const label = `${name} ${r.objectType}`;
    if (r.absent)
      return {
        name: label,
        status: 'fail',
        detail: `the object type ${r.objectType} does not exist`,
        hint: 'remove it from match.objects in the mapping',
      };
    const problems: string[] = [];
    const hints: string[] = [];
    if (r.matchFieldMissing) {
      problems.push(`match field ${mapping.match.field} missing`);
      hints.push('set match.field to the property that holds the WhatsApp number');
    }
    const bsuid = mapping.match.bsuidField;
    if (r.bsuidFieldMissing && bsuid) {
      problems.push(`BSUID field ${bsuid} missing`);
      hints.push(
        canCreate
          ? `create a single-line text property ${bsuid} on ${r.objectType}s, or remove match.bsuidField from the mapping`
          : `create it on ${r.objectType} in Setup → Object Manager: ${bsuid} (Text(140), External ID), or remove match.bsuidField from the mapping`,
      );
    }
    if (r.missing.length > 0) {
      problems.push(
        `${r.missing.length} of ${mapping.fields.length} mapped field(s) missing: ${r.missing.map((f) => f.remote).join(', ')}`,
      );
      hints.push(
        canCreate
          ? `run consent-sync doctor --fix to create them (group ${PROPERTY_GROUP.name})`
          : `create them on ${r.objectType} in Setup → Object Manager: ${r.missing
              .map((f) => {
                const nf = newField(f);
                return `${nf.name} (${SALESFORCE_TYPE[nf.kind]}${nf.options.length ? `: ${nf.options.join(', ')}` : ''})`;
              })
              .join(', ')}`,
      );
    }
    if (r.mismatches.length > 0) {
      problems.push(r.mismatches.join('; '));
      hints.push('change the field in the CRM or the transform in the mapping');
    }
    if (problems.length === 0)
      return {
        name: label,
        status: 'ok',
        detail: `all ${mapping.fields.length} mapped field(s) present with fitting types; match field ${mapping.match.field}${mapping.match.bsuidField ? `, BSUID field ${mapping.match.bsuidField}` : ''}`,
      };
    return { name: label, status: 'fail', detail: problems.join('; '), hint: hints.join('; ') };
  });
}

async function checkCrm(
  name: ConnectorName,
  config: Config,
  mapping: Mapping,
  fix: boolean,
  checks: Check[],
) {
  const schema = schemaFor(name, config);
  const objectTypes = mapping.match.objects;
  let snapshot: Awaited<ReturnType<CrmSchema['describe']>>;
  try {
    snapshot = await schema.describe(objectTypes);
  } catch (e) {
    if (!(e instanceof ConnectorFailure)) throw e;
    checks.push({
      name: `${name} connection`,
      status: 'fail',
      detail: `${e.error.code}: ${e.error.message}`,
      hint: CONNECTION_HINTS[name][e.error.code] ?? 'see the message; the sync retries once the CRM answers',
    });
    return;
  }
  const q = snapshot.quota;
  const low = q !== null && q.remaining < q.limit * 0.1;
  checks.push({
    name: `${name} connection`,
    status: low ? 'warn' : 'ok',
    detail: `authenticated${q ? `; ${q.remaining} of ${q.limit} requests left (${q.window})` : ''}`,
    ...(low ? { hint: 'little request headroom: syncs will wait for the window' } : {}),
  });
  let reports = compareFields(mapping, snapshot.objects);
  const missing = reports.filter((r) => !r.absent && r.missing.length > 0);
  if (fix && schema.create && missing.length > 0) {
    const created: string[] = [];
    try {
      for (const r of missing) {
        await schema.create(r.objectType, r.missing.map(newField), PROPERTY_GROUP);
        created.push(...r.missing.map((f) => f.remote));
      }
      reports = compareFields(mapping, (await schema.describe(objectTypes)).objects);
      checks.push({
        name: `${name} fix`,
        status: 'ok',
        detail: `created ${created.length} propert${created.length === 1 ? 'y' : 'ies'} in group ${PROPERTY_GROUP.name}: ${created.join(', ')}`,
      });
    } catch (e) {
      if (!(e instanceof ConnectorFailure)) throw e;
      checks.push({
        name: `${name} fix`,
        status: 'fail',
        detail: `created ${created.length}, then ${e.error.code}: ${e.error.message}`,
        hint: 'the token needs the crm.schemas.contacts.write scope',
      });
    }
  }
  checks.push(...fieldChecks(name, mapping, reports, schema.create !== undefined));
  if (name === 'hubspot')
    checks.push(
      await whatsappChannelCheck(
        { baseUrl: config.HUBSPOT_BASE_URL, accessToken: config.HUBSPOT_ACCESS_TOKEN as string },
        mapping,
      ),
    );
  if (name === 'salesforce' && mapping.native) await checkNative(config, mapping, fix, checks);
}

export async function doctorCommand(io: Io, env: Env, args: DoctorArgs): Promise<number> {
  const checks: Check[] = [];
  const dataDir = resolve(env.DATA_DIR ?? './data');
  const dirOk = checkDataDir(dataDir, checks);
  const config = await checkConfig(env, dataDir, dirOk, checks);
  const storeReady = dirOk && (await checkDatabase(dataDir, args.fix, checks));
  if (config) {
    const sending = Boolean(config.WHATSAPP_ACCESS_TOKEN && config.WHATSAPP_PHONE_NUMBER_ID);
    checks.push({
      name: 'whatsapp sending',
      status: sending ? 'ok' : 'warn',
      detail: sending ? `configured (${new URL(config.WHATSAPP_GRAPH_URL).host})` : 'not configured',
      hint: 'set WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID: until then confirmations wait in the outbox',
    });
    const catalog = await checkCatalog(config, dataDir, storeReady, checks);
    if (storeReady) checks.push(...(await checkPiiKeys(config, join(dataDir, 'consent-sync.db'))));
    const names = [...buildConnectors(config).keys()];
    if (names.length === 0)
      checks.push({
        name: 'crm',
        status: 'warn',
        detail: 'no CRM configured',
        hint: 'set HUBSPOT_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET',
      });
    for (const name of catalog ? names : []) {
      let mapping: Mapping;
      try {
        const { storage, defaults } = nodeMappings({ dataDir, mappingsDir: config.MAPPINGS_DIR });
        const mappings = await Mappings.load(storage, defaults, [name], (catalog as Catalog).purposes);
        mapping = mappings.get(name);
        checks.push({
          name: `${name} mapping`,
          status: 'ok',
          detail: `${mapping.fields.length} field(s) on ${mapping.match.objects.join(', ')}`,
        });
      } catch (e) {
        if (!(e instanceof MappingError)) throw e;
        checks.push({
          name: `${name} mapping`,
          status: 'fail',
          detail: e.message,
          hint: 'fix the file (consent-sync mappings check shows every problem)',
        });
        continue;
      }
      await checkCrm(name, config, mapping, args.fix, checks);
    }
  } else {
    checks.push({ name: 'crm', status: 'skip', detail: 'needs a valid configuration' });
  }
  io.out(`consent-sync doctor (DATA_DIR ${dataDir})\n`);
  io.out(checkList(checks));
  return checks.some((c) => c.status === 'fail') ? 1 : 0;
}
