/**
 * The Worker as the `workers` test project runs it (`main` in vitest.config.ts): the production
 * default export of src/runtime/worker.ts with the wrangler.toml bindings, INBOX queue included,
 * plus a count of the inbox queue's messages in flight, so a test can wait until the queue consumer
 * (invoked by Miniflare, as Cloudflare would) has decided what a webhook acknowledged:
 * `inboxDrained()`, the Workers counterpart of the Node harness's `drained()`. Everything is
 * delegated unchanged; a deployed Worker never loads this file.
 */
import type { MessageBatch, Queue } from '@cloudflare/workers-types/index.ts';
import worker, { type Env, QUEUES } from '../../src/runtime/worker.ts';
import type { InboxMessage } from '../../src/service/inbox/queue-inbox.ts';

/** inbox messages sent (by a webhook, or sent on by the consumer) and not yet acknowledged or dead */
let inFlight = 0;
/** inbox messages the queue accepted since the isolate started */
let accepted = 0;
/** the last error of an inbox consumer invocation (its name and message: no personal data) */
let lastError: string | null = null;

function counted(env: Env): Env {
  const queue = env.INBOX;
  if (!queue) return env;
  const wrapped = {
    async send(body: InboxMessage, options?: unknown) {
      inFlight += 1;
      try {
        await queue.send(body, options as never);
        accepted += 1;
      } catch (err) {
        inFlight -= 1;
        throw err;
      }
    },
    async sendBatch(list: Array<{ body: InboxMessage }>, options?: unknown) {
      inFlight += list.length;
      try {
        await queue.sendBatch(list, options as never);
        accepted += list.length;
      } catch (err) {
        inFlight -= list.length;
        throw err;
      }
    },
  } as unknown as Queue<InboxMessage>;
  return { ...env, INBOX: wrapped };
}

export default {
  fetch(request: Request, env: Env, ctx: unknown) {
    return worker.fetch(request, counted(env), ctx as never);
  },
  async queue(batch: MessageBatch<unknown>, env: Env, ctx: unknown) {
    const settles = batch.queue === QUEUES.inbox || batch.queue === QUEUES.inboxDlq;
    try {
      await worker.queue(batch as never, counted(env), ctx as never);
    } catch (err) {
      lastError = `${(err as Error).name}: ${(err as Error).message}`;
      if (batch.queue === QUEUES.inboxDlq) inFlight -= batch.messages.length;
      throw err; // the queue retries it, then hands it to the DLQ, whose consumer settles it
    }
    if (settles) inFlight -= batch.messages.length;
  },
  scheduled(controller: unknown, env: Env, ctx: unknown) {
    return worker.scheduled(controller as never, counted(env), ctx as never);
  },
};

/**
 * Resolves once every inbox message sent so far has been decided by the queue consumer (or reached
 * the DLQ and was recorded there). Polls the count every 10 ms; fails with what is still pending
 * after `timeoutMs` (the consumer's batch timeout is 1 s, so 15 s means it did not run or kept failing).
 */
export async function inboxDrained(timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (inFlight > 0) {
    if (Date.now() > until)
      throw new Error(
        `inbox queue: ${inFlight} message(s) still undecided after ${timeoutMs} ms` +
          (lastError ? ` (last consumer error: ${lastError})` : ' (the queue consumer has not run)'),
      );
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

/** How many inbox messages the INBOX queue accepted so far (proof that a test went through it). */
export const inboxAccepted = (): number => accepted;
