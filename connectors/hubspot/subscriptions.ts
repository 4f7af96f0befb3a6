/**
 * HubSpot's communication-preferences API v4 for WhatsApp subscription types
 * (docs/hubspot-whatsapp-subscriptions.md). HubSpot documents `channel` with EMAIL as the only
 * supported value (2026-03 reference), so for now this serves two things: `consent-sync doctor`
 * asking whether this portal accepts the WhatsApp channel yet, and the connector writing statuses
 * when a mapping opts in (`subscriptions.mode: "communication-preferences"`). The SDK has no v4
 * client, so these are plain `fetch` calls, run under the connector's call budget.
 */
import type { ConnectorError } from '../errors.ts';
import { ConnectorFailure } from '../types.ts';
import { toConnectorError } from './errors.ts';

const V4 = '/communication-preferences/v4';
/** Inputs per batch/write (the batch size HubSpot's CRM batch endpoints take; API-FACTS 2.3). */
export const STATUS_BATCH = 100;
/** A fictitious example number for the read-only probe: no real person. */
const PROBE_SUBSCRIBER = '+15555550100'; // example number

export interface StatusInput {
  subscriberIdString: string;
  subscriptionId: number;
  statusState: 'SUBSCRIBED' | 'UNSUBSCRIBED' | 'NOT_SPECIFIED';
  legalBasis: string;
}

export interface SubscriptionDefinition {
  id: string;
  name: string;
  communicationMethod: string | null;
  purpose: string | null;
}

/** What the probe found: `accepted`, `rejected` (HubSpot named the channel in its refusal) or `unknown`. */
export type ChannelProbe =
  | { verdict: 'accepted'; definitions: SubscriptionDefinition[] }
  | { verdict: 'rejected'; message: string; definitions: SubscriptionDefinition[] }
  | { verdict: 'unknown'; error: ConnectorError };

export interface CommPrefsOptions {
  baseUrl: string;
  accessToken: string;
  fetch?: typeof fetch;
}

/**
 * @example
 * const prefs = createCommPrefsClient({ baseUrl: 'https://api.hubapi.com', accessToken });
 * const probe = await prefs.probe('WHATSAPP'); // { verdict: 'rejected', … } while HubSpot takes EMAIL only
 */
export function createCommPrefsClient(opts: CommPrefsOptions) {
  const base = opts.baseUrl.replace(/\/+$/, '');
  const fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);

  async function request(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetchFn(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${opts.accessToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      const e = new Error('no response from HubSpot');
      e.name = 'FetchError';
      throw new ConnectorFailure(toConnectorError(e));
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (res.status >= 200 && res.status < 300) return parsed;
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      headers[k] = v;
    });
    const error = toConnectorError({ code: res.status, body: parsed, headers });
    const named = channelRefusal(res.status, parsed);
    throw new ConnectorFailure(
      named ? { ...error, code: 'CHANNEL_NOT_SUPPORTED', message: named, retryable: false } : error,
    );
  }

  /** `GET /communication-preferences/v4/definitions`: the portal's subscription types. */
  async function definitions(): Promise<SubscriptionDefinition[]> {
    const body = (await request('GET', `${V4}/definitions`)) as { results?: unknown } | null;
    const results = Array.isArray(body?.results) ? body.results : [];
    return results.flatMap((r) => {
      const o = r as Record<string, unknown>;
      if (typeof o.id !== 'string' && typeof o.id !== 'number') return [];
      return [
        {
          id: String(o.id),
          name: typeof o.name === 'string' ? o.name.slice(0, 100) : '',
          communicationMethod: typeof o.communicationMethod === 'string' ? o.communicationMethod : null,
          purpose: typeof o.purpose === 'string' ? o.purpose : null,
        },
      ];
    });
  }

  return {
    definitions,

    /** `POST /communication-preferences/v4/statuses/batch/write`, at most STATUS_BATCH inputs. */
    async write(channel: string, inputs: StatusInput[]): Promise<void> {
      if (inputs.length === 0) return;
      await request('POST', `${V4}/statuses/batch/write`, {
        inputs: inputs.map((i) => ({
          channel,
          statusState: i.statusState,
          subscriberIdString: i.subscriberIdString,
          subscriptionId: i.subscriptionId,
          legalBasis: i.legalBasis,
          legalBasisExplanation: 'Recorded by consent-sync from the WhatsApp consent ledger',
        })),
      });
    },

    /**
     * Read-only: lists the definitions, then reads statuses for one fictitious number on `channel`
     * (`POST …/statuses/batch/read?channel=`). A 2xx means the channel is accepted; a 400 whose
     * message names the channel means "not yet"; anything else is unknown (auth, scopes, outage).
     */
    async probe(channel: string): Promise<ChannelProbe> {
      let found: SubscriptionDefinition[] = [];
      try {
        found = await definitions();
        await request('POST', `${V4}/statuses/batch/read?channel=${encodeURIComponent(channel)}`, {
          inputs: [PROBE_SUBSCRIBER],
        });
        return { verdict: 'accepted', definitions: found };
      } catch (err) {
        if (!(err instanceof ConnectorFailure)) throw err;
        if (err.error.code === 'CHANNEL_NOT_SUPPORTED')
          return { verdict: 'rejected', message: err.error.message, definitions: found };
        return { verdict: 'unknown', error: err.error };
      }
    },
  };
}

export type CommPrefsClient = ReturnType<typeof createCommPrefsClient>;

/**
 * A 400 whose message names a channel value HubSpot does not take (its enum error, e.g. "… not one
 * of the values accepted for Enum class: [EMAIL]"): reported without the message itself, which is
 * HubSpot's and may echo input.
 */
function channelRefusal(status: number, body: unknown): string | null {
  if (status !== 400 || typeof body !== 'object' || body === null) return null;
  const message = (body as { message?: unknown }).message;
  if (typeof message !== 'string' || !/channel|WHATSAPP/i.test(message)) return null;
  return 'HubSpot does not accept the WhatsApp channel in the communication-preferences API for this portal';
}
