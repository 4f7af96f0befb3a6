/**
 * The HubSpot SDK's HTTP layer on the platform's `fetch`. The SDK's own layer imports node-fetch,
 * which only runs on Workers when a bundler swaps it for `fetch` (wrangler does, the vitest Workers
 * plugin does not), and node-fetch's header arrays break workerd's `node:http`. With `fetch` the
 * same code runs on Node and Workers as it is.
 */
import {
  type HttpLibrary,
  type RequestContext,
  ResponseContext,
  wrapHttpLibrary,
} from '@hubspot/api-client/lib/codegen/crm/contacts/index.js';

export function fetchHttpLibrary(fetchFn: typeof fetch = globalThis.fetch.bind(globalThis)): HttpLibrary {
  return wrapHttpLibrary({
    async send(request: RequestContext): Promise<ResponseContext> {
      const body = request.getBody();
      let resp: Response;
      try {
        resp = await fetchFn(request.getUrl(), {
          method: request.getHttpMethod().toString(),
          headers: request.getHeaders(),
          ...(body === undefined || body === null ? {} : { body: body as BodyInit }),
        });
      } catch (err) {
        // No response at all (refused, reset, DNS): named like node-fetch's, with no details, which
        // can carry the URL.
        const e = new Error('no response from HubSpot');
        e.name = (err as Error)?.name === 'AbortError' ? 'AbortError' : 'FetchError';
        throw e;
      }
      const headers: Record<string, string> = {};
      resp.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return new ResponseContext(resp.status, headers, {
        text: () => resp.text(),
        binary: async () => Buffer.from(await resp.arrayBuffer()),
      });
    },
  });
}
