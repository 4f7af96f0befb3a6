-- Sync rules 4 and 4a (issues 14 and 19): a purpose's status follows from the latest time of each
-- kind of change, so the same changes give the same status in any delivery order. Rows written
-- before these columns existed keep NULL in all four and are read from their status and source
-- (src/core/consent.ts, registersOf): NULL means no such change is known.

-- the latest opt-out by the person themselves (WhatsApp, Meta, the API): no CRM opt-in lifts it
ALTER TABLE consent_state ADD COLUMN withdrawn_at TEXT;
-- the latest opt-out from a CRM
ALTER TABLE consent_state ADD COLUMN crm_opted_out_at TEXT;
-- the latest opt-in taken over from a trusted CRM (trustOptIn)
ALTER TABLE consent_state ADD COLUMN crm_granted_at TEXT;
-- when the latest double opt-in (pending, confirmed, or waiting behind a CRM opt-in) was requested
ALTER TABLE consent_state ADD COLUMN requested_at TEXT;
