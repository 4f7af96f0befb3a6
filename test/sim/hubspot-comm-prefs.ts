/**
 * The HubSpot simulator's communication-preferences API v4: subscription definitions, batch read
 * and batch write of statuses. Sources: developers.hubspot.com/docs/api-reference/
 * communication-preferences-subscriptions-v4 (subscription-definitions, subscription-status
 * batch/read and batch/write) and …/2026-03/communication-preferences/status/update-subscription
 * ("channel … with 'EMAIL' as the only supported option").
 *
 * `whatsapp` switches whether the WHATSAPP channel is accepted: off (HubSpot today) answers a 400
 * in HubSpot's error shape whose message names the channel, as its enum validation does (the exact
 * wording is not documented; the shape is: status, message, correlationId, category).
 */
import { randomUUID } from 'node:crypto';

type Json = Record<string, unknown>;
interface Answer {
  status: number;
  body: unknown;
}

export interface SubscriptionTypeDef {
  id: number;
  name: string;
  communicationMethod: string;
  purpose: string;
}

/** HubSpot's two WhatsApp subscription types (since July 2025) and one email type. */
export const DEFAULT_SUBSCRIPTION_TYPES: SubscriptionTypeDef[] = [
  { id: 1001, name: 'Marketing Information', communicationMethod: 'EMAIL', purpose: 'Marketing' },
  { id: 2001, name: 'WhatsApp Marketing', communicationMethod: 'WHATSAPP', purpose: 'Marketing' },
  { id: 2002, name: 'WhatsApp Transactional', communicationMethod: 'WHATSAPP', purpose: 'Transactional' },
];

const STATES = new Set(['SUBSCRIBED', 'UNSUBSCRIBED', 'NOT_SPECIFIED']);
const BATCH = 100;

export interface CommPrefsState {
  /** Whether WHATSAPP is an accepted channel value. */
  whatsapp: boolean;
  types: SubscriptionTypeDef[];
  /** `${channel}:${subscriber}:${subscriptionId}` → status */
  statuses: Map<string, string>;
}

export function newCommPrefs(whatsapp = false): CommPrefsState {
  return { whatsapp, types: [...DEFAULT_SUBSCRIPTION_TYPES], statuses: new Map() };
}

/** Routes `/communication-preferences/v4/…`; null for any other path. */
export function routeCommPrefs(
  state: CommPrefsState,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Json,
): Answer | null {
  if (!path.startsWith('/communication-preferences/v4/')) return null;
  const now = new Date().toISOString();
  const envelope = (results: unknown[]) => ({
    status: 'COMPLETE',
    results,
    startedAt: now,
    completedAt: now,
    requestedAt: now,
  });
  if (method === 'GET' && path === '/communication-preferences/v4/definitions')
    return {
      status: 200,
      body: envelope(
        state.types
          .filter((t) => state.whatsapp || t.communicationMethod !== 'WHATSAPP')
          .map((t) => ({
            id: String(t.id),
            name: t.name,
            description: '',
            purpose: t.purpose,
            communicationMethod: t.communicationMethod,
            isActive: true,
            isDefault: false,
            isInternal: false,
            createdAt: now,
            updatedAt: now,
          })),
      ),
    };
  if (method === 'POST' && path === '/communication-preferences/v4/statuses/batch/read') {
    const channel = query.get('channel') ?? '';
    const refused = checkChannel(state, channel);
    if (refused) return refused;
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || !inputs.every((i) => typeof i === 'string'))
      return invalid('inputs must be an array of strings');
    return {
      status: 200,
      body: envelope(
        (inputs as string[]).map((subscriber) => ({
          subscriberIdString: subscriber,
          statuses: state.types
            .filter((t) => t.communicationMethod === channel)
            .map((t) => ({
              channel,
              subscriberIdString: subscriber,
              subscriptionId: t.id,
              status: state.statuses.get(`${channel}:${subscriber}:${t.id}`) ?? 'NOT_SPECIFIED',
              source: 'API',
              timestamp: now,
            })),
        })),
      ),
    };
  }
  if (method === 'POST' && path === '/communication-preferences/v4/statuses/batch/write') {
    const inputs = body.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) return invalid('inputs must be a non-empty array');
    if (inputs.length > BATCH) return invalid(`Too many inputs: ${inputs.length}, the maximum is ${BATCH}`);
    const results: Json[] = [];
    for (const raw of inputs) {
      const i = (typeof raw === 'object' && raw !== null ? raw : {}) as Json;
      const refused = checkChannel(state, String(i.channel ?? ''));
      if (refused) return refused;
      if (typeof i.subscriberIdString !== 'string' || i.subscriberIdString === '')
        return invalid('subscriberIdString is required');
      if (typeof i.statusState !== 'string' || !STATES.has(i.statusState))
        return invalid('statusState must be SUBSCRIBED, UNSUBSCRIBED or NOT_SPECIFIED');
      const type = state.types.find((t) => t.id === i.subscriptionId);
      if (!type || type.communicationMethod !== i.channel)
        return invalid(`Subscription ${String(i.subscriptionId)} does not exist for this channel`);
      state.statuses.set(`${i.channel}:${i.subscriberIdString}:${type.id}`, i.statusState);
      results.push({
        channel: i.channel,
        subscriberIdString: i.subscriberIdString,
        subscriptionId: type.id,
        status: i.statusState,
        source: 'API',
        timestamp: now,
      });
    }
    return { status: 200, body: envelope(results) };
  }
  return null;
}

function checkChannel(state: CommPrefsState, channel: string): Answer | null {
  if (channel === 'EMAIL' || (channel === 'WHATSAPP' && state.whatsapp)) return null;
  return invalid(
    `Invalid input JSON: Cannot deserialize value of type \`Channel\` from String "${channel.slice(0, 40)}": not one of the values accepted for Enum class: [EMAIL]`,
  );
}

function invalid(message: string): Answer {
  return {
    status: 400,
    body: { status: 'error', message, correlationId: randomUUID(), category: 'VALIDATION_ERROR' },
  };
}
