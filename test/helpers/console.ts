/**
 * Drives the web console over HTTP as a browser would (cookie session, CSRF token in forms), for
 * the console's end-to-end tests and the access matrix.
 */
type Fetch = (path: string, init?: RequestInit) => Promise<Response>;

export interface ConsoleClient {
  /** the `name=value` pair of the session cookie */
  cookie: string;
  /** the raw Set-Cookie header of the sign-in */
  setCookie: string;
  csrf: string;
  get(path: string): Promise<Response>;
  /** a form POST with the session's CSRF token unless `csrf` is given (null: none) */
  post(path: string, form?: Record<string, string>, csrf?: string | null): Promise<Response>;
}

export const form = (fields: Record<string, string>) => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

/** The CSRF token of the page (every signed-in page carries one in its sign-out form). */
export function csrfOf(page: string): string {
  const m = /name="csrf" value="([0-9a-f]{64})"/.exec(page);
  if (!m?.[1]) throw new Error('no CSRF token on the page');
  return m[1];
}

/** Signs in with a key; throws unless the console accepts it. */
export async function signIn(fetch: Fetch, key: string): Promise<ConsoleClient> {
  const res = await fetch('/admin/login', form({ key }));
  const setCookie = res.headers.get('set-cookie') ?? '';
  if (res.status !== 303 || !setCookie) throw new Error(`sign-in failed: ${res.status}`);
  const cookie = setCookie.split(';')[0]!;
  const withCookie = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...(init.headers as Record<string, string>), cookie },
  });
  const csrf = csrfOf(await (await fetch('/admin', withCookie())).text());
  return {
    cookie,
    setCookie,
    csrf,
    get: (path) => fetch(path, withCookie()),
    post: (path, fields = {}, token) => {
      const t = token === undefined ? csrf : token;
      return fetch(path, withCookie(form(t === null ? fields : { ...fields, csrf: t })));
    },
  };
}
