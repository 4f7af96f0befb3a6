/**
 * Which methods a path answers to, from the app's own route table: a request with another method
 * gets 405 and an `Allow` header (RFC 9110, 15.5.6) instead of a 404 that says the path is wrong.
 */
import { PatternRouter } from 'hono/router/pattern-router';

interface RouteEntry {
  method: string;
  path: string;
}

/**
 * Builds the lookup once from the registered routes (middleware, registered for `ALL`, is not a route).
 *
 * @example
 * const allowed = allowedMethods(app.routes);
 * allowed('/v1/consents'); // ['POST']
 */
export function allowedMethods(routes: readonly RouteEntry[]): (path: string) => string[] {
  const router = new PatternRouter<string>();
  const methods = new Set<string>();
  for (const r of routes) {
    if (r.method === 'ALL') continue;
    router.add(r.method, r.path, r.method);
    methods.add(r.method);
  }
  return (path) => {
    const found = [...methods].filter((m) => (router.match(m, path)[0] as unknown[]).length > 0);
    // Hono answers HEAD with the GET route
    if (found.includes('GET')) found.push('HEAD');
    return found.sort();
  };
}
