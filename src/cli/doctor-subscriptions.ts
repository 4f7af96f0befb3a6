/**
 * `consent-sync doctor`: does HubSpot's communication-preferences API accept the WhatsApp channel
 * for this portal yet (docs/hubspot-whatsapp-subscriptions.md)? Read-only: lists the subscription
 * definitions and reads statuses on the channel for one fictitious number.
 */
import { createCommPrefsClient } from '../../connectors/hubspot/subscriptions.ts';
import type { Mapping } from '../core/mapping.ts';
import type { Check } from './output.ts';

/**
 * @example
 * checks.push(await whatsappChannelCheck({ baseUrl: 'https://api.hubapi.com', accessToken }, mapping));
 */
export async function whatsappChannelCheck(
  hubspot: { baseUrl: string; accessToken: string; fetch?: typeof fetch },
  mapping: Mapping,
): Promise<Check> {
  const channel = mapping.subscriptions?.channel ?? 'WHATSAPP';
  const mode = mapping.subscriptions?.mode ?? 'properties';
  const name = 'hubspot WhatsApp subscription types';
  const probe = await createCommPrefsClient(hubspot).probe(channel);
  if (probe.verdict === 'unknown')
    return {
      name,
      status: 'warn',
      detail: `could not ask the communication-preferences API (${probe.error.code})`,
      hint: 'the token needs the communication_preferences.read scope to answer this',
    };
  const types = probe.definitions
    .filter((d) => d.communicationMethod?.toUpperCase() === channel)
    .map((d) => `${d.name} (${d.id})`);
  if (probe.verdict === 'rejected')
    return {
      name,
      status: mode === 'communication-preferences' ? 'fail' : 'ok',
      detail: `not yet: the API refuses channel ${channel}; the mapped properties and a workflow set the native types`,
      ...(mode === 'communication-preferences'
        ? {
            hint: 'set subscriptions.mode to "properties" in the HubSpot mapping until HubSpot accepts the channel',
          }
        : {}),
    };
  return {
    name,
    status: mode === 'properties' ? 'warn' : 'ok',
    detail: `the API accepts channel ${channel}${types.length ? `; types ${types.join(', ')}` : ''}`,
    ...(mode === 'properties'
      ? {
          hint: 'HubSpot now takes WhatsApp statuses: set subscriptions.mode to "communication-preferences" with the type ids above',
        }
      : {}),
  };
}
