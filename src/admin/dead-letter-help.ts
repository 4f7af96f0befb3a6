/**
 * Dead letters in words: a connector's error (as stored in `lastError`, e.g.
 * `INVALID_REQUEST: HubSpot answered (HTTP 400 VALIDATION_ERROR [PROPERTY_DOESNT_EXIST property x])`)
 * matched against the codes we know, most specific first, to say what happened and the likely fix.
 * Vendor codes: HubSpot `PROPERTY_DOESNT_EXIST` (HubSpot.NET issue #50), Salesforce `INVALID_FIELD`,
 * `REQUEST_LIMIT_EXCEEDED` (403) and `UNABLE_TO_LOCK_ROW` (API-FACTS §3, Salesforce REST error codes).
 */

export interface Explanation {
  /** a short name for the kind of failure (also a CSS hook: `data-cause`) */
  cause: string;
  /** what happened, in words */
  what: string;
  /** the likely fix */
  fix: string;
}

const RULES: Array<{ test: RegExp } & Explanation> = [
  {
    test: /PROPERTY_DOESNT_EXIST/,
    cause: 'missing-property',
    what: 'HubSpot has no property of the name the mapping writes.',
    fix: 'Create the property in HubSpot (Settings → Properties) or correct its name on the Mappings page, then Retry.',
  },
  {
    test: /INVALID_FIELD|No such column/,
    cause: 'missing-field',
    what: 'Salesforce does not know a field the mapping writes, or the integration user cannot see it.',
    fix: "Check the field's API name (custom fields end in __c) on the Mappings page and the integration user's field-level security, then Retry.",
  },
  {
    test: /FIELD_CUSTOM_VALIDATION_EXCEPTION/,
    cause: 'validation-rule',
    what: 'A Salesforce validation rule refused the value.',
    fix: 'Let the rule accept the values the mapping sends (or change the transform), then Retry.',
  },
  {
    test: /INVALID_OPTION|INVALID_ENUMERATION_OPTION|INVALID_VALUE|bad value for restricted picklist/,
    cause: 'invalid-value',
    what: "The value sent is not one of the CRM property's allowed options.",
    fix: 'Add the option to the CRM property or change the transform on the Mappings page, then Retry.',
  },
  {
    test: /RECIPIENT_STOPPED_MARKETING|131050/,
    cause: 'stopped-marketing',
    what: 'The person stopped marketing messages in WhatsApp; Meta refused the message.',
    fix: 'Nothing to fix: it counts as an opt-out. Do not retry.',
  },
  {
    test: /\bUNAUTHORIZED\b|\bAUTH_FAILED\b|INVALID_SESSION_ID|HTTP 401\b/,
    cause: 'credentials',
    what: 'The CRM did not accept our credentials (token expired, revoked or mistyped).',
    fix: 'Renew HUBSPOT_ACCESS_TOKEN or the Salesforce client id and secret, restart, then Retry all.',
  },
  {
    test: /REQUEST_LIMIT_EXCEEDED|\bRATE_LIMITED\b|HTTP 429\b|DAILY/,
    cause: 'rate-limit',
    what: "The CRM's API limit was reached.",
    fix: 'Wait for the limit to reset (daily limits: the next day), lower HUBSPOT_REQUESTS_PER_10S or SALESFORCE_CONCURRENCY if it keeps happening, then Retry all.',
  },
  {
    test: /\bFORBIDDEN\b|HTTP 403\b|INSUFFICIENT_ACCESS/,
    cause: 'permission',
    what: 'Our credentials work but lack a permission for this record or object.',
    fix: 'Give the HubSpot private app the contacts write scope, or the Salesforce integration user edit access to the object, then Retry all.',
  },
  {
    test: /\bLOCKED\b|UNABLE_TO_LOCK_ROW/,
    cause: 'locked',
    what: 'Salesforce had the record locked by another update.',
    fix: 'Retry: it usually passes on a later attempt.',
  },
  {
    test: /\bNOT_FOUND\b|OBJECT_NOT_FOUND|ENTITY_IS_DELETED/,
    cause: 'record-gone',
    what: 'The CRM record no longer exists (deleted or merged in the CRM).',
    fix: 'Usually nothing: the next reconciliation links the person to their current record. Retry if the record was restored.',
  },
  {
    test: /RECORD_REJECTED/,
    cause: 'record-rejected',
    what: 'The CRM refused this one record; the codes in brackets say why.',
    fix: 'Mend the record or the mapped value in the CRM as the codes say, then Retry.',
  },
  {
    test: /\bNETWORK\b|\bTIMEOUT\b|ECONNREFUSED|ENOTFOUND/,
    cause: 'network',
    what: 'No answer from the CRM (network failure or timeout), even after the automatic retries.',
    fix: "Check this server's outbound network and the vendor's status page, then Retry all.",
  },
  {
    test: /SERVER_ERROR|HTTP 5\d\d\b/,
    cause: 'vendor-outage',
    what: 'The CRM failed with an internal error, even after the automatic retries.',
    fix: "Check the vendor's status page; Retry all when it is back.",
  },
  {
    test: /not enabled/,
    cause: 'connector-off',
    what: 'The connector is no longer configured, so the job was cancelled.',
    fix: "Set the connector's credentials again to deliver it, or leave it.",
  },
  {
    test: /\bINVALID_REQUEST\b|\bBAD_REQUEST\b|VALIDATION_ERROR/,
    cause: 'invalid-request',
    what: 'The CRM refused the request as invalid.',
    fix: 'Check the mapping (Mappings → Check): property names, types and transforms; then Retry.',
  },
];

const UNKNOWN: Explanation = {
  cause: 'unknown',
  what: 'The connector reported an error we have no description for.',
  fix: 'Retry once; if it dies again, read the error code with docs/operations.md and the vendor documentation.',
};

/**
 * @example
 * explain('INVALID_REQUEST: HubSpot answered (HTTP 400 VALIDATION_ERROR [PROPERTY_DOESNT_EXIST property x])').cause
 * // → 'missing-property'
 */
export function explain(lastError: string | null | undefined): Explanation {
  const text = lastError ?? '';
  const rule = RULES.find((r) => r.test.test(text));
  return rule ? { cause: rule.cause, what: rule.what, fix: rule.fix } : UNKNOWN;
}
