/**
 * Recognises errors of the database itself (D1 down, reset, overloaded, a broken binding), as
 * opposed to bugs: Cloudflare documents that D1's methods throw an `Error` whose message starts with
 * a `D1_` constant (`D1_ERROR`, `D1_EXEC_ERROR`, `D1_TYPE_ERROR`, `D1_COLUMN_NOTFOUND`; see
 * docs/workers.md). The cause chain is followed (a commit that lost its retries wraps the D1 error).
 * Such errors are answered 503 `STORE_UNAVAILABLE` with their name and message, which carry SQL
 * and SQLite's reason but never bound values (every value is bound), so no personal data.
 */
export interface StoreFailure {
  name: string;
  message: string;
}

const D1_MESSAGE = /^D1_[A-Z_]+\b/;

export function storeFailure(err: unknown): StoreFailure | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (D1_MESSAGE.test(e.message)) return { name: e.name, message: e.message.slice(0, 300) };
  }
  return null;
}
