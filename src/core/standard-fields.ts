/**
 * Which CRM fields are the CRM's own (issue 14, finding 4). A mapping writes and reads custom fields
 * made for it; a standard field (a contact's last name, Salesforce's DoNotCall, HubSpot's email
 * opt-out) carries meaning for the whole CRM, so a mapping may name one only when an admin lists it
 * in `allowStandardFields`.
 *
 * - Salesforce: custom fields end in `__c` (Object Reference, "Custom Fields": "the names of custom
 *   fields are identified by a suffix of two underscores immediately followed by a lowercase c").
 * - HubSpot: its properties API marks its own properties `hubspotDefined: true`; offline (where a
 *   mapping is checked) we use their names: every `hs_…` property, and the default contact
 *   properties below that have no prefix (custom properties are created with other names).
 */
/** The part of a mapping these rules read (structural, so this file does not import mapping.ts). */
export interface StandardFieldsInput {
  connector: 'hubspot' | 'salesforce';
  allowStandardFields: string[];
  fields: ReadonlyArray<{ remote: string }>;
}

/** HubSpot's default contact properties without the `hs_` prefix (internal names, lower case). */
export const HUBSPOT_DEFINED_CONTACT_PROPERTIES: ReadonlySet<string> = new Set([
  'address',
  'annualrevenue',
  'associatedcompanyid',
  'associatedcompanylastupdated',
  'city',
  'closedate',
  'company',
  'company_size',
  'country',
  'createdate',
  'currentlyinworkflow',
  'date_of_birth',
  'days_to_close',
  'degree',
  'email',
  'engagements_last_meeting_booked',
  'engagements_last_meeting_booked_campaign',
  'engagements_last_meeting_booked_medium',
  'engagements_last_meeting_booked_source',
  'fax',
  'field_of_study',
  'first_conversion_date',
  'first_conversion_event_name',
  'first_deal_created_date',
  'firstname',
  'followercount',
  'gender',
  'graduation_date',
  'hubspot_owner_assigneddate',
  'hubspot_owner_id',
  'hubspot_team_id',
  'hubspotscore',
  'industry',
  'ip_city',
  'ip_country',
  'ip_country_code',
  'ip_latlon',
  'ip_state',
  'ip_state_code',
  'ip_zipcode',
  'job_function',
  'jobtitle',
  'kloutscoregeneral',
  'lastmodifieddate',
  'lastname',
  'lifecyclestage',
  'linkedinbio',
  'linkedinconnections',
  'marital_status',
  'message',
  'military_status',
  'mobilephone',
  'notes_last_contacted',
  'notes_last_updated',
  'notes_next_activity_date',
  'num_associated_deals',
  'num_contacted_notes',
  'num_conversion_events',
  'num_notes',
  'num_unique_conversion_events',
  'numemployees',
  'owneremail',
  'ownername',
  'phone',
  'photo',
  'recent_conversion_date',
  'recent_conversion_event_name',
  'recent_deal_amount',
  'recent_deal_close_date',
  'relationship_status',
  'salutation',
  'school',
  'seniority',
  'start_date',
  'state',
  'surveymonkeyeventlastupdated',
  'total_revenue',
  'twitterbio',
  'twitterhandle',
  'twitterprofilephoto',
  'webinareventlastupdated',
  'website',
  'work_email',
  'zip',
]);

/**
 * True when `remote` is a field the CRM defines rather than one made for the mapping.
 *
 * @example
 * isStandardField('salesforce', 'HasOptedOutOfEmail'); // true
 * isStandardField('salesforce', 'WhatsApp_Opted_Out__c'); // false
 * isStandardField('hubspot', 'hs_email_optout'); // true
 * isStandardField('hubspot', 'whatsapp_opted_out'); // false
 */
export function isStandardField(connector: StandardFieldsInput['connector'], remote: string): boolean {
  if (connector === 'salesforce') return !/__c$/i.test(remote);
  return /^hs_/i.test(remote) || HUBSPOT_DEFINED_CONTACT_PROPERTIES.has(remote.toLowerCase());
}

/** A standard field named in `fields` without being in `allowStandardFields`: one issue each. */
export function standardFieldIssues(m: StandardFieldsInput): Array<{ path: string; message: string }> {
  const allowed = new Set(m.allowStandardFields.map((n) => n.toLowerCase()));
  const where =
    m.connector === 'salesforce'
      ? 'a standard Salesforce field (custom fields end in __c)'
      : 'a property HubSpot defines';
  return m.fields.flatMap((f, i) =>
    isStandardField(m.connector, f.remote) && !allowed.has(f.remote.toLowerCase())
      ? [
          {
            path: `fields.${i}.remote`,
            message: `${f.remote} is ${where}; only an admin may allow it, by listing it in allowStandardFields`,
          },
        ]
      : [],
  );
}
