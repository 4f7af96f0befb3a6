/**
 * The little SOQL the connector writes: `SELECT … FROM T WHERE F IN ('…', …)`. Values are escaped,
 * never rejected; names (fields, objects) are checked against the API-name shape instead, because
 * SOQL has no way to quote an identifier.
 */
import { ConnectorFailure } from '../types.ts';

/** API names: a letter, then letters, digits and underscores (`Name`, `ns__Field__c`). */
const API_NAME = /^[A-Za-z][A-Za-z0-9_]{0,79}$/;
/** Record ids: 15 characters (case-sensitive) or 18 (case-safe suffix). */
const RECORD_ID = /^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$/;

/** @example isSalesforceId('0035e00000ZkM3hAAF') // true */
export const isSalesforceId = (id: string): boolean => RECORD_ID.test(id);

/** @example isApiName('WhatsApp_Opted_Out__c') // true */
export const isApiName = (name: string): boolean => API_NAME.test(name);

/**
 * A SOQL string literal: backslash, quotes and control characters escaped as SOQL reads them.
 *
 * @example soqlString("O'Brien \\ example") // "'O\\'Brien \\\\ example'"
 */
export function soqlString(value: string): string {
  const escaped = value.replace(/[\\'"\n\r\t\f\b]/g, (c) => ESCAPES[c] ?? c);
  return `'${escaped}'`;
}

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\f': '\\f',
  '\b': '\\b',
};

/**
 * `SELECT <fields> FROM <type> WHERE <field> IN (<values>)`, fields de-duplicated case-insensitively.
 * Throws a non-retryable `ConnectorFailure` for a name that is not an API name.
 *
 * @example
 * selectIn('Contact', ['Id', 'MobilePhone'], 'MobilePhone', ['+447700900001']) // an example number
 * // "SELECT Id, MobilePhone FROM Contact WHERE MobilePhone IN ('+447700900001')" with the example number
 */
export function selectIn(type: string, fields: string[], whereField: string, values: string[]): string {
  for (const name of [type, whereField, ...fields]) {
    if (!isApiName(name)) throw invalidName();
  }
  const seen = new Set<string>();
  const unique = fields.filter((f) => {
    const key = f.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return `SELECT ${unique.join(', ')} FROM ${type} WHERE ${whereField} IN (${values.map(soqlString).join(', ')})`;
}

function invalidName(): ConnectorFailure {
  return new ConnectorFailure({
    code: 'INVALID_REQUEST',
    message: 'object or field name is not a Salesforce API name',
    retryable: false,
    retryAfterMs: null,
    status: null,
    vendorCode: null,
  });
}

/** Splits into slices of at most `size`. */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
