/**
 * Salesforce's data model for `consent-sync doctor`: the fields of each mapped object type
 * (sObject describe) and the org's daily API allocation (`Sforce-Limit-Info`). Custom fields are
 * created in Setup (or with the Metadata API), so there is no `create` here.
 */
import { type SchemaCallOptions, schemaBudget } from '../schema.ts';
import type { CrmSchema, FieldKind, RemoteField } from '../types.ts';
import { createSession } from './auth.ts';
import { createCaller, SalesforceFailure } from './http.ts';

export interface SalesforceSchemaOptions extends SchemaCallOptions {
  loginUrl: string;
  clientId: string;
  clientSecret: string;
  apiVersion: string;
  orgId: string | null;
  timeoutMs?: number;
}

interface Describe {
  fields: Array<{ name: string; type: string; picklistValues?: Array<{ value: string; active?: boolean }> }>;
}

const KIND: Record<string, FieldKind> = {
  boolean: 'boolean',
  picklist: 'enum',
  date: 'date',
  datetime: 'date',
  string: 'text',
  textarea: 'text',
  phone: 'text',
  email: 'text',
  url: 'text',
  double: 'number',
  int: 'number',
  percent: 'number',
  currency: 'number',
};

/**
 * @example
 * const schema = createSalesforceSchema({ loginUrl: 'https://login.salesforce.com', clientId, clientSecret, apiVersion: '62.0', orgId: null });
 * const { objects } = await schema.describe(['Contact', 'Lead']);
 */
export function createSalesforceSchema(opts: SalesforceSchemaOptions): CrmSchema {
  const budget = schemaBudget(opts);
  const session = createSession(opts);
  const api = createCaller(session, budget, { timeoutMs: opts.timeoutMs ?? 30_000, rateLimitWaitMs: 2_000 });

  return {
    async describe(objectTypes) {
      const objects: Record<string, RemoteField[] | null> = {};
      for (const type of objectTypes) {
        try {
          const d = await api.call<Describe>({
            method: 'GET',
            url: `/sobjects/${encodeURIComponent(type)}/describe`,
          });
          objects[type] = d.fields.map((f) => ({
            name: f.name,
            type: f.type,
            kind: KIND[f.type] ?? 'other',
            options: (f.picklistValues ?? []).filter((v) => v.active !== false).map((v) => v.value),
          }));
        } catch (err) {
          // The org has no such object (a 404 on describe): reported, not a failed connection.
          if (err instanceof SalesforceFailure && err.error.code === 'ENDPOINT_NOT_FOUND')
            objects[type] = null;
          else throw err;
        }
      }
      const usage = api.apiUsage();
      return {
        objects,
        quota: usage ? { remaining: usage.limit - usage.used, limit: usage.limit, window: '24 h' } : null,
      };
    },
  };
}
