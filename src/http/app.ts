import { requestId } from 'hono/request-id';
import { routePath } from 'hono/route';
import { adminRoutes } from '../admin/index.ts';
import type { Services } from '../app/services.ts';
import { lazyChild } from '../service/log.ts';
import { allowedMethods } from './allowed-methods.ts';
import { bodyLimit } from './body-limit.ts';
import { errorBody, renderError } from './errors.ts';
import { newRouter } from './router.ts';
import { complianceRoutes } from './routes/compliance.ts';
import { consentRoutes } from './routes/consents.ts';
import { deadEventRoutes } from './routes/dead-events.ts';
import { DOCS_SCRIPT_PATH, docsRoutes } from './routes/docs.ts';
import { erasureRoutes } from './routes/erasures.ts';
import { healthRoutes } from './routes/health.ts';
import { jobRoutes } from './routes/jobs.ts';
import { keyRoutes } from './routes/keys.ts';
import { ledgerRoutes } from './routes/ledger.ts';
import { mappingRoutes } from './routes/mappings.ts';
import { messageRoutes } from './routes/messages.ts';
import { subjectRoutes } from './routes/subjects.ts';
import { crmWebhookRoutes } from './routes/webhooks-crm.ts';
import { whatsappWebhookRoutes } from './routes/webhooks-whatsapp.ts';

/**
 * The whole HTTP app over already-built services. Runtime-free: Node and Workers wrap it.
 *
 * @example
 * const app = createApp(services);
 * const res = await app.request('/healthz');
 */
/** What differs per runtime. */
export interface AppOptions {
  /**
   * Serves the API reference's script at DOCS_SCRIPT_PATH (Node: from the installed package; on
   * Workers it is a static asset, so the Worker bundle stays small).
   */
  docsScript?: () => Promise<Response>;
}

export function createApp(services: Services, options: AppOptions = {}) {
  const app = newRouter();
  app.use(requestId());
  app.use(async (c, next) => {
    const log = lazyChild(services.log, { reqId: c.get('requestId') });
    c.set('services', services);
    c.set('log', log);
    const started = performance.now();
    await next();
    // The route pattern, never the path: paths can hold phone numbers.
    log.info(
      {
        method: c.req.method,
        route: routePath(c, -1),
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      },
      'request',
    );
  });
  // One size cap for every route (webhooks and API alike), before any body is read.
  app.use(
    bodyLimit(services.config.MAX_BODY_BYTES, (c) =>
      c.json(errorBody('PAYLOAD_TOO_LARGE', 'the body exceeds the size limit'), 413),
    ),
  );
  app.onError(renderError);
  // A known path with another method: 405 and the methods it has (computed once all routes exist).
  let allowed: ((path: string) => string[]) | undefined;
  app.notFound((c) => {
    allowed ??= allowedMethods(app.routes);
    const methods = allowed(c.req.path);
    if (methods.length === 0) return c.json(errorBody('NOT_FOUND', 'no such route'), 404);
    c.header('Allow', methods.join(', '));
    return c.json(
      errorBody('METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here; allowed: ${methods.join(', ')}`),
      405,
    );
  });

  healthRoutes(app);
  whatsappWebhookRoutes(app);
  crmWebhookRoutes(app);
  consentRoutes(app);
  subjectRoutes(app);
  messageRoutes(app);
  ledgerRoutes(app);
  jobRoutes(app);
  deadEventRoutes(app);
  mappingRoutes(app);
  erasureRoutes(app);
  keyRoutes(app);
  complianceRoutes(app);
  docsRoutes(app);
  const script = options.docsScript;
  if (script) app.get(DOCS_SCRIPT_PATH, () => script());
  adminRoutes(app);
  return app;
}

export type App = ReturnType<typeof createApp>;
