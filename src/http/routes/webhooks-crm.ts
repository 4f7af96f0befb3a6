import type { Context } from 'hono';
import type { ConnectorName, WebhookRequest } from '../../../connectors/types.ts';
import { AppError, errorBody } from '../errors.ts';
import type { Router } from '../router.ts';
import type { AppEnv } from '../types.ts';

/**
 * The URL the CRM called, as it signed it: `PUBLIC_URL` (when the service sits behind a proxy
 * that rewrites the host or scheme) plus the path and query, else the request's own URL.
 */
function calledUrl(c: Context<AppEnv>): string {
  const own = new URL(c.req.url);
  const base = c.var.services.config.PUBLIC_URL;
  return base ? `${base.replace(/\/$/, '')}${own.pathname}${own.search}` : own.toString();
}

/**
 * One route per CRM: verify (signature or shared secret) before parsing anything, parse into
 * whitelisted changes, store them, and only then answer with the vendor's acknowledgement.
 */
function crmWebhook(app: Router, name: ConnectorName) {
  app.post(`/webhooks/${name}`, async (c) => {
    const { sync, mappings, clock } = c.var.services;
    const connector = sync.connector(name);
    if (!connector || !mappings.has(name)) {
      throw new AppError(404, 'CONNECTOR_NOT_ENABLED', `${name} is not configured on this deployment`);
    }
    const req: WebhookRequest = {
      method: c.req.method,
      url: calledUrl(c),
      headers: c.req.raw.headers,
      rawBody: await c.req.text(),
      now: clock().getTime(),
    };
    const verdict = await connector.verifyWebhook(req);
    if (!verdict.ok) {
      // A SOAP caller gets the connector's SOAP Fault; everyone else the API's one error shape.
      if (verdict.reply)
        return new Response(verdict.reply.body, {
          status: verdict.status,
          headers: { 'content-type': verdict.reply.contentType },
        });
      return c.json(errorBody(verdict.code, verdict.message), verdict.status);
    }
    const parsed = connector.parseWebhook(req, mappings.spec(name));
    if (!parsed.ok) {
      // JSON callers get the API's one error shape; SOAP callers the connector's SOAP Fault.
      if (parsed.reply.contentType.startsWith('application/json'))
        return c.json(errorBody(parsed.code, parsed.message), parsed.status);
      return new Response(parsed.reply.body, {
        status: parsed.status,
        headers: { 'content-type': parsed.reply.contentType },
      });
    }
    // Readers skip, never drop: what could be read is stored, what could not is kept for inspection.
    const [report, skipped] = await Promise.all([
      sync.receive(name, parsed.changes),
      c.var.services.deadEvents.record(parsed.skipped),
    ]);
    c.var.log.info({ connector: name, ...report, skipped }, 'crm webhook stored');
    return new Response(parsed.ack.body, {
      status: parsed.ack.status,
      headers: { 'content-type': parsed.ack.contentType },
    });
  });
}

export function crmWebhookRoutes(app: Router) {
  crmWebhook(app, 'hubspot');
  crmWebhook(app, 'salesforce');
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/webhooks/hubspot',
    operationId: 'receiveHubSpotWebhook',
    tags: ['webhooks'],
    // Signed by the sender (or a shared secret), not a bearer token.
    security: [],
    summary:
      'HubSpot webhooks (signature v3): property changes of mapped contact properties (classic, legacy eventType, generic object.* 0-1), deletions; unreadable events are skipped',
    responses: {
      200: { description: 'All events stored' },
      400: { description: 'Not a HubSpot webhook array' },
      401: { description: 'Signature missing, wrong, or older than 5 minutes; nothing changed' },
      404: { description: 'HubSpot is not configured' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'post',
    path: '/webhooks/salesforce',
    operationId: 'receiveSalesforceWebhook',
    tags: ['webhooks'],
    // Signed by the sender (or a shared secret), not a bearer token.
    security: [],
    summary:
      'Salesforce Flow HTTP callouts (JSON, X-Consent-Sync-Secret) or, when enabled, Outbound Messages (SOAP signals read back through the API, answered with the Ack envelope)',
    responses: {
      200: { description: 'All notifications stored; SOAP Ack or JSON receipt' },
      400: { description: 'Malformed envelope or body (a SOAP Fault for SOAP)' },
      401: { description: 'Flow callout without the shared secret' },
      403: {
        description:
          'Outbound Message while SALESFORCE_OUTBOUND_MESSAGES is off (OUTBOUND_MESSAGES_DISABLED), or from another org; a SOAP Fault',
      },
      404: { description: 'Salesforce is not configured' },
    },
  });
}
