/** The console's request environment and session (types only; guard.ts and layout.ts both use them). */
import type { AppEnv } from '../http/types.ts';
import type { Actor } from '../service/api-keys.ts';

export interface ConsoleSession {
  actor: Actor;
  /** the API key; used to call the JSON API on the person's behalf */
  key: string;
  cookie: string;
  csrf: string;
  expiresAt: number;
}

export interface AdminEnv {
  /** scriptNonce: set by a page that carries a script; the console's CSP then allows that script */
  Variables: AppEnv['Variables'] & { session: ConsoleSession; scriptNonce?: string };
}
