/**
 * The logger port: pino on Node satisfies it; tests capture it. Callers pass only named,
 * non-personal fields (ids, counts, codes): never phone numbers, names, message text or tokens.
 */
export interface Log {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Log;
}

/** A logger that drops everything (unit tests that do not look at logs). */
export const silentLog: Log = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => silentLog,
};
