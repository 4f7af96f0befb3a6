/**
 * A D1 binding that counts the queries it runs, so a queue consumer can stay within Cloudflare's
 * per-invocation D1 query limit (issue 19 item 3). Every statement counts one, also inside a
 * `batch()` (whether Cloudflare counts a batch as one query is not documented: this is the safe reading).
 */
import type { D1Database, D1PreparedStatement } from '@cloudflare/workers-types/index.ts';

export interface MeteredD1 {
  db: D1Database;
  used(): number;
}

const RAW = Symbol('raw statement');

/** Wraps `db`; `used()` is the number of statements run through it so far. */
export function meteredD1(db: D1Database): MeteredD1 {
  let n = 0;
  const wrap = (stmt: D1PreparedStatement): D1PreparedStatement =>
    new Proxy(stmt, {
      get(target, prop) {
        if (prop === RAW) return target;
        if (prop === 'bind') return (...args: unknown[]) => wrap(target.bind(...args));
        if (prop === 'first' || prop === 'run' || prop === 'all' || prop === 'raw') {
          const fn = (target as unknown as Record<string, (...a: unknown[]) => unknown>)[prop];
          return (...args: unknown[]) => {
            n += 1;
            return fn?.apply(target, args);
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  const unwrap = (s: D1PreparedStatement) =>
    ((s as unknown as Record<symbol, D1PreparedStatement>)[RAW] ?? s) as D1PreparedStatement;
  const metered = new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return (sql: string) => wrap(target.prepare(sql));
      if (prop === 'batch')
        return (stmts: D1PreparedStatement[]) => {
          n += stmts.length;
          return target.batch(stmts.map(unwrap));
        };
      if (prop === 'exec')
        return (sql: string) => {
          n += 1;
          return target.exec(sql);
        };
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db: metered, used: () => n };
}
