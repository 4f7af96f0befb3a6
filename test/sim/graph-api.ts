/**
 * A stateful fake of the WhatsApp Cloud API send endpoint (API-FACTS 1.11, 1.12) on a real local
 * HTTP server, so connectors are exercised through real `fetch`, sockets and headers.
 *
 * Recipients (docs/whatsapp-identity-facts.md): `to` addresses a number; `recipient` a BSUID or a
 * parent BSUID, the latter only for portfolios enrolled in parent BSUIDs (`parentBsuids: true`;
 * otherwise error 131009). When both are set, `to` wins, as Meta documents.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { flatten, obj, readBody } from './http.ts';

export const GRAPH_VERSION = 'v23.0';

export interface ReceivedRequest {
  method: string;
  /** Path and query, e.g. `/v23.0/106540352242922/messages`. */
  path: string;
  headers: Record<string, string>;
  /** Parsed JSON, or the raw text when it was not JSON. */
  body: unknown;
}

export interface SentMessage {
  id: string;
  /** Where it went: the `to` number, or the BSUID of a `recipient` send. */
  to: string;
  /** Set when the message was addressed by `recipient` (a BSUID or parent BSUID). */
  recipient?: string;
  type: string;
  text?: unknown;
  template?: unknown;
  interactive?: unknown;
}

/** `hang` never answers (for client timeouts); `network` destroys the socket. */
export type GraphFault = '429' | '500' | '131050' | '131056' | 'network' | 'hang';

export interface GraphSimulator {
  /** Use as `WHATSAPP_GRAPH_URL`, e.g. `http://127.0.0.1:PORT/v23.0`. */
  url: string;
  /** Every request received, failed ones included. */
  requests: ReceivedRequest[];
  /** Messages accepted, in order. */
  sent(): SentMessage[];
  /** The next `n` authorised requests fail with `kind`. */
  failNext(n: number, kind: GraphFault): void;
  /** WhatsApp ids (digits) or BSUIDs that always get 131050. */
  stopRecipients: Set<string>;
  reset(): void;
  close(): Promise<void>;
}

/** Meta's documented shapes: `CC.` + up to 128 alphanumerics; parent `CC.ENT.` + alphanumerics. */
const BSUID = /^[A-Z]{2}\.[A-Za-z0-9]{1,128}$/;
const PARENT_BSUID = /^[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}$/;

const TYPES = new Set(['text', 'template', 'interactive', 'image', 'audio', 'video', 'document', 'sticker']);
const TYPES_WITH_CHECKS: Record<string, (v: Record<string, unknown>) => boolean> = {
  text: (v) => typeof v.body === 'string' && v.body.length > 0,
  template: (v) => typeof v.name === 'string' && typeof obj(v.language)?.code === 'string',
  interactive: (v) => typeof v.type === 'string' && obj(v.action) !== undefined,
};

/**
 * Starts the simulator on 127.0.0.1 with a random port.
 *
 * @example
 * const graph = await startGraphSimulator({ accessToken: 'test-token', phoneNumberId: '106540352242922' });
 * // parent BSUIDs are refused (131009) unless: startGraphSimulator({ …, parentBsuids: true })
 * graph.failNext(1, '429');
 * // … createWhatsAppClient({ graphUrl: graph.url, … }) …
 * await graph.close();
 */
export async function startGraphSimulator(opts: {
  accessToken: string;
  phoneNumberId: string;
  /** Whether the business portfolio is enrolled in parent BSUIDs; default false. */
  parentBsuids?: boolean;
}): Promise<GraphSimulator> {
  const requests: ReceivedRequest[] = [];
  let sent: SentMessage[] = [];
  let faults: GraphFault[] = [];
  const stopRecipients = new Set<string>();
  let counter = 0;
  const messagesPath = `/${GRAPH_VERSION}/${opts.phoneNumberId}/messages`;

  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    requests.push({ method: req.method ?? '', path: req.url ?? '', headers: flatten(req), body });
    if (req.headers.authorization !== `Bearer ${opts.accessToken}`) {
      return reply(res, 401, {
        error: {
          message: 'Invalid OAuth access token - Cannot parse access token',
          type: 'OAuthException',
          code: 190,
        },
      });
    }
    if (req.method !== 'POST' || req.url !== messagesPath) {
      return reply(res, 400, graphError(100, 'Unsupported post request', 'GraphMethodException'));
    }
    const fault = faults.shift();
    if (fault === 'network') return void req.socket.destroy();
    if (fault === 'hang') return; // the socket is released by close()
    if (fault === '429') return reply(res, 429, graphError(130429, 'Rate limit hit'), { 'retry-after': '1' });
    if (fault === '500') return reply(res, 500, graphError(131000, 'Something went wrong'));
    if (fault === '131056') return reply(res, 400, graphError(131056, 'Pair rate limit hit'));
    if (fault === '131050') return reply(res, 400, stoppedError());

    const message = obj(body);
    const type = typeof message?.type === 'string' ? message.type : '';
    const payload = obj(message?.[type]);
    const check = TYPES_WITH_CHECKS[type];
    const address = addressOf(message);
    if (
      message?.messaging_product !== 'whatsapp' ||
      !address ||
      !TYPES.has(type) ||
      !payload ||
      (check && !check(payload))
    ) {
      return reply(res, 400, graphError(100, 'Invalid parameter'));
    }
    if (address.parent && !opts.parentBsuids) {
      return reply(res, 400, graphError(131009, 'Parameter value is not valid'));
    }
    if (stopRecipients.has(address.key)) return reply(res, 400, stoppedError());
    counter += 1;
    const id = `wamid.${Buffer.from(`SIM.${counter}.${randomUUID()}`).toString('base64')}`;
    const by = address.bsuid ? { recipient: address.input } : {};
    sent.push({ id, to: address.input, ...by, type, [type]: payload });
    reply(res, 200, {
      messaging_product: 'whatsapp',
      contacts: [
        address.bsuid
          ? { input: address.input, user_id: address.input }
          : { input: address.input, wa_id: address.key },
      ],
      messages: [{ id }],
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/${GRAPH_VERSION}`,
    requests,
    sent: () => [...sent],
    failNext: (n, kind) => {
      faults.push(...Array.from({ length: n }, () => kind));
    },
    stopRecipients,
    reset: () => {
      requests.length = 0;
      sent = [];
      faults = [];
      stopRecipients.clear();
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // keep-alive and hung sockets would hold close() open
      }),
  };
}

/**
 * Who a request addresses: `to` (a number; it wins when both are set) or `recipient` (a BSUID or
 * parent BSUID). `key` is what `stopRecipients` holds: the digits of a number, a BSUID as sent.
 */
function addressOf(
  message: Record<string, unknown> | undefined,
): { input: string; key: string; bsuid: boolean; parent: boolean } | null {
  const to = message?.to;
  if (typeof to === 'string' && to)
    return { input: to, key: to.replace(/\D/g, ''), bsuid: false, parent: false };
  const recipient = message?.recipient;
  if (typeof recipient !== 'string') return null;
  const parent = PARENT_BSUID.test(recipient);
  if (!parent && !BSUID.test(recipient)) return null;
  return { input: recipient, key: recipient, bsuid: true, parent };
}

function graphError(code: number, title: string, type = 'OAuthException') {
  return {
    error: {
      message: `(#${code}) ${title}`,
      type,
      code,
      error_data: { messaging_product: 'whatsapp', details: title },
      fbtrace_id: `SIM${randomUUID().slice(0, 8)}`,
    },
  };
}

const stoppedError = () =>
  graphError(
    131050,
    'Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.',
  );

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
