/**
 * The Node server's own limits (security review, issue 14, item 11): it listens on `HOST` only, cuts
 * off a client that never finishes its headers (slowloris) after `HEADERS_TIMEOUT_SECONDS`, refuses
 * connections past `MAX_CONNECTIONS`, and keeps the development secrets file readable by its owner only.
 */
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/runtime/logger.ts';
import { type NodeServer, startNode } from '../../src/runtime/node.ts';
import { freePort } from '../helpers/net.ts';

const dirs: string[] = [];
const servers: NodeServer[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(env: Record<string, string> = {}, dataDir?: string): Promise<NodeServer> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'consent-sync-server-'));
  if (!dataDir) dirs.push(dir);
  const server = await startNode({
    env: { NODE_ENV: 'development', DATA_DIR: dir, PORT: String(await freePort()), ...env },
    log: createLogger('silent'),
    // no background work during these tests
    dispatchEveryMs: 3_600_000,
    sweepEveryMs: 3_600_000,
  });
  servers.push(server);
  return server;
}

const portOf = (s: NodeServer) => Number(new URL(s.url).port);

/** Opens a TCP connection; resolves once connected, or with the error that refused it. */
function open(host: string, port: number): Promise<{ socket: Socket } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    sockets.push(socket);
    socket.once('connect', () => resolve({ socket }));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ error }));
  });
}

/** Resolves with the milliseconds until the server closed the socket (or null after `withinMs`). */
function closedWithin(socket: Socket, withinMs: number): Promise<number | null> {
  const started = Date.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), withinMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    };
    socket.once('close', done);
    socket.once('end', done);
    socket.on('error', () => {});
    socket.resume();
  });
}

describe('the Node server', () => {
  it('listens on HOST only (127.0.0.2 here: 127.0.0.1 is refused)', async () => {
    const s = await start({ HOST: '127.0.0.2' });
    expect(s.url).toBe(`http://127.0.0.2:${portOf(s)}`);
    const res = await fetch(`${s.url}/healthz`);
    expect(res.status).toBe(200);
    const other = await open('127.0.0.1', portOf(s));
    expect('error' in other && other.error.code).toBe('ECONNREFUSED');
  });

  it('cuts off a client that never finishes its headers after HEADERS_TIMEOUT_SECONDS', async () => {
    const s = await start({ HOST: '127.0.0.1', HEADERS_TIMEOUT_SECONDS: '1', REQUEST_TIMEOUT_SECONDS: '30' });
    const c = await open('127.0.0.1', portOf(s));
    if (!('socket' in c)) throw c.error;
    // slowloris: a request line, then one header line every 200 ms, never the blank line
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(`X-Drip-${Date.now()}: 1\r\n`);
    }, 200);
    const closedAfter = await closedWithin(c.socket, 8_000);
    clearInterval(drip);
    // Node's default would keep it open for 60 s (checked every 30 s)
    expect(closedAfter).not.toBeNull();
    expect(closedAfter!).toBeLessThan(4_000);
    // the server still serves everyone else
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('refuses connections past MAX_CONNECTIONS', async () => {
    const s = await start({ HOST: '127.0.0.1', MAX_CONNECTIONS: '2' });
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const c = await open('127.0.0.1', portOf(s));
      if (!('socket' in c)) throw c.error;
      held.push(c.socket);
    }
    const third = await open('127.0.0.1', portOf(s));
    if (!('socket' in third)) throw third.error;
    // accepted by the kernel, closed by Node at once without a response
    expect(await closedWithin(third.socket, 2_000)).not.toBeNull();
    for (const h of held) h.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  });

  it('writes dev-secrets.json readable by its owner only (0600), and narrows a wider mode on start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'consent-sync-server-'));
    dirs.push(dir);
    const file = join(dir, 'dev-secrets.json');
    const first = await start({ HOST: '127.0.0.1' }, dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await first.close();
    servers.splice(servers.indexOf(first), 1);

    chmodSync(file, 0o644);
    const second = await start({ HOST: '127.0.0.1' }, dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await second.close();
    servers.splice(servers.indexOf(second), 1);

    // A file someone made by hand (0644, one secret) gets the rest generated and ends 0600 too.
    rmSync(file);
    writeFileSync(file, JSON.stringify({ WHATSAPP_VERIFY_TOKEN: 'hand-made-verify-token' }), { mode: 0o644 });
    await start({ HOST: '127.0.0.1' }, dir);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
