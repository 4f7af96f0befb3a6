/**
 * HubSpot's contact properties (CRM properties API v3) for `consent-sync doctor`: which properties
 * exist with which type and options, how much of the 10-second request window is left, and creating
 * the custom properties a mapping needs in a property group of their own. Through the SDK's generated
 * properties client on our `fetch` layer, under the same kind of call budget as the connector.
 */
import {
  CoreApi,
  createConfiguration,
  GroupsApi,
  type HttpLibrary,
  type Property,
  PropertyCreateFieldTypeEnum,
  PropertyCreateTypeEnum,
  ServerConfiguration,
} from '@hubspot/api-client/lib/codegen/crm/properties/index.js';
import { type SchemaCallOptions, schemaBudget } from '../schema.ts';
import type { CrmSchema, FieldKind, NewField, Quota, RemoteField } from '../types.ts';
import { fetchHttpLibrary } from './http.ts';
import { sdkCaller } from './index.ts';

export interface HubSpotSchemaOptions extends SchemaCallOptions {
  accessToken: string;
  baseUrl: string;
  timeoutMs?: number;
}

const KIND: Record<string, FieldKind> = {
  bool: 'boolean',
  enumeration: 'enum',
  date: 'date',
  datetime: 'date',
  string: 'text',
  phone_number: 'text',
  number: 'number',
};

/** Type and field type HubSpot wants for a new property of each kind. */
const CREATE: Record<NewField['kind'], [PropertyCreateTypeEnum, PropertyCreateFieldTypeEnum]> = {
  boolean: [PropertyCreateTypeEnum.Bool, PropertyCreateFieldTypeEnum.Booleancheckbox],
  enum: [PropertyCreateTypeEnum.Enumeration, PropertyCreateFieldTypeEnum.Select],
  date: [PropertyCreateTypeEnum.Datetime, PropertyCreateFieldTypeEnum.Date],
  text: [PropertyCreateTypeEnum.String, PropertyCreateFieldTypeEnum.Text],
  number: [PropertyCreateTypeEnum.Number, PropertyCreateFieldTypeEnum.Number],
};

/** The properties API names object types in the plural (`contacts`). */
const apiObject = (objectType: string) => (objectType.endsWith('s') ? objectType : `${objectType}s`);

/**
 * @example
 * const schema = createHubSpotSchema({ accessToken: env.HUBSPOT_ACCESS_TOKEN, baseUrl: 'https://api.hubapi.com' });
 * const { objects, quota } = await schema.describe(['contact']);
 */
export function createHubSpotSchema(opts: HubSpotSchemaOptions): CrmSchema {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const budget = schemaBudget(opts);
  const config = createConfiguration({
    baseServer: new ServerConfiguration(opts.baseUrl.replace(/\/+$/, ''), {}),
    authMethods: { oauth2: { accessToken: opts.accessToken } },
    // The generated modules each declare the same HTTP classes; ours is built on the contacts one.
    httpApi: fetchHttpLibrary() as unknown as HttpLibrary,
  });
  const core = new CoreApi(config);
  const groups = new GroupsApi(config);

  const call = sdkCaller(budget, timeoutMs);

  return {
    async describe(objectTypes) {
      const objects: Record<string, RemoteField[] | null> = {};
      let quota: Quota | null = null;
      for (const type of objectTypes) {
        const res = await call(() => core.getAllWithHttpInfo(apiObject(type), false));
        objects[type] = res.data.results.map(toField);
        quota = quotaOf(res.headers) ?? quota;
      }
      return { objects, quota };
    },

    async create(objectType, fields, group) {
      const type = apiObject(objectType);
      const existing = await call(() => groups.getAll(type));
      if (!existing.results.some((g) => g.name === group.name)) {
        await call(() => groups.create(type, { name: group.name, label: group.label }));
      }
      for (const f of fields) {
        const [kind, fieldType] = CREATE[f.kind];
        await call(() =>
          core.create(type, {
            name: f.name,
            label: f.label,
            description: f.description,
            groupName: group.name,
            type: kind,
            fieldType,
            formField: false,
            options: options(f),
          }),
        );
      }
    },
  };
}

function toField(p: Property): RemoteField {
  return {
    name: p.name,
    type: p.type,
    kind: KIND[p.type] ?? 'other',
    options: (p.options ?? []).map((o) => o.value),
  };
}

/** A checkbox has the two options HubSpot itself gives one; a dropdown the mapping's values. */
function options(f: NewField) {
  const values = f.kind === 'boolean' ? ['true', 'false'] : f.kind === 'enum' ? f.options : [];
  return values.map((value, displayOrder) => ({
    label: f.kind === 'boolean' ? (value === 'true' ? 'Yes' : 'No') : value,
    value,
    displayOrder,
    hidden: false,
  }));
}

/** HubSpot's `X-HubSpot-RateLimit-*` headers for the rolling window, when sent. */
function quotaOf(headers: Record<string, string>): Quota | null {
  const remaining = Number(headers['x-hubspot-ratelimit-remaining']);
  const limit = Number(headers['x-hubspot-ratelimit-max']);
  const interval = Number(headers['x-hubspot-ratelimit-interval-milliseconds']);
  if (
    !Number.isFinite(remaining) ||
    !Number.isFinite(limit) ||
    headers['x-hubspot-ratelimit-max'] === undefined
  )
    return null;
  return { remaining, limit, window: Number.isFinite(interval) ? `${interval / 1000} s` : 'window' };
}
