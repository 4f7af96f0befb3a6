/**
 * Waits for `p` to settle (either way), at most `ms`. True when it settled in time. For shared
 * promises of one isolate (a lock's tail, a commit chain): on Workers a promise owned by a cancelled
 * invocation never settles, and nobody may wait on it forever.
 *
 * @example if (!(await settledWithin(tail, 10_000))) log.warn({}, 'took over a lock');
 */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<false>((ok) => {
    timer = setTimeout(() => ok(false), ms);
  });
  try {
    return await Promise.race([
      p.then(
        () => true,
        () => true,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
