/**
 * The compliance report for the data protection officer (issue 7, deliver 7): a record of processing
 * (Art. 30) generated from the running configuration, and a checklist of the GDPR duties in
 * ARCHITECTURE.md computed from real state. JSON at `GET /v1/compliance`, Markdown at
 * `GET /v1/compliance/record`, a page in the admin console. Holds no personal data.
 */

/** `ok`: met; `warn`: met with a caveat or not verifiable here; `fail`: not met. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One duty of the checklist. */
export interface ChecklistItem {
  /** stable id, e.g. `consent-proof` */
  id: string;
  /** the duty as ARCHITECTURE.md names it, e.g. "prove consent" */
  duty: string;
  /** e.g. `Art. 7(1)` */
  article: string;
  status: CheckStatus;
  /** why, in one or a few sentences (counts and names of settings, never personal data) */
  detail: string;
}

/** One consent wording exactly as shown (placeholders filled in), with its version and hash. */
export interface PurposeText {
  locale: string;
  version: string;
  /** the version new consents are asked with for this locale */
  current: boolean;
  text: string;
  /** SHA-256 of the text, as the ledger records it */
  sha256: string;
}

export interface RecordPurpose {
  /** purpose id, e.g. `marketing` */
  id: string;
  /** the label per locale, from the catalog */
  label: Record<string, string>;
  legalBasis: string;
  texts: PurposeText[];
}

export interface DataCategory {
  category: string;
  /** the data items of this category */
  items: string[];
  /** where it is held and how */
  storage: string;
}

export interface Recipient {
  /** `whatsapp`, `hubspot`, `salesforce` */
  id: string;
  name: string;
  kind: 'messaging' | 'crm';
  /** the vendor (a processor or recipient in the sense of Art. 4(9)) */
  vendor: string;
  /** the API base URL the deployment calls */
  endpoint: string;
  /** what leaves towards it: for a CRM exactly the whitelisted push fields (`remote ← local`) */
  sent: string[];
  /** what is read from it: for a CRM the match field and the whitelisted pull fields */
  received: string[];
  /** third-country transfer note (Art. 30(1)(e)) */
  transfers: string;
}

export interface StorageLocation {
  runtime: 'node' | 'workers';
  engine: 'SQLite' | 'Cloudflare D1';
  /** the database file (Node) or binding (Workers) */
  location: string;
}

export interface RetentionRule {
  data: string;
  /** e.g. `90 days`, `kept until the person's erasure` */
  period: string;
  /** the configuration variable that sets it, when there is one */
  setting: string | null;
}

export interface SecurityMeasure {
  measure: string;
  inPlace: boolean;
  detail: string;
}

/** The record of processing activities (Art. 30(1)). */
export interface ProcessingRecord {
  controller: {
    /** `business.name` in the catalog */
    name: string;
    /** `CONTROLLER_CONTACT`; null when not configured */
    contact: string | null;
    /** `DPO_CONTACT`; null when not configured */
    dpoContact: string | null;
    /** `business.privacyPolicyUrl` in the catalog */
    privacyPolicyUrl: string;
  };
  processing: string;
  dataSubjects: string[];
  purposes: RecordPurpose[];
  categories: DataCategory[];
  recipients: Recipient[];
  storage: StorageLocation;
  retention: RetentionRule[];
  security: SecurityMeasure[];
}

export interface ComplianceReport {
  generatedAt: string;
  /** `NODE_ENV` */
  environment: string;
  record: ProcessingRecord;
  checklist: ChecklistItem[];
  summary: Record<CheckStatus, number>;
}
