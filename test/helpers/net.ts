/**
 * Small helpers shared by tests, the demo and the benchmarks that start servers and repeatable loads.
 */
import { createServer } from 'node:net';

/**
 * A TCP port free on 127.0.0.1 right now (the OS picks it; a server started next will get it).
 *
 * @example const port = await freePort();
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const address = server.address();
  await new Promise<void>((ok) => server.close(() => ok()));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}

/**
 * mulberry32: a small seeded generator, so faults, loads and benchmark mixes can be repeated.
 *
 * @example const random = seededRandom(42); random() // 0.6011037519201636
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
