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

/**
 * A request's logger, made on its first use: most requests log nothing at the configured level
 * (webhooks at LOG_LEVEL=warn), and a pino child costs more than the rest of the middleware.
 *
 * @example
 * const log = lazyChild(services.log, { reqId }); // no child until a line is written at an enabled level
 */
export function lazyChild(base: Log, bindings: Record<string, unknown>): Log {
  let child: Log | undefined;
  // pino says which levels it writes; a logger that cannot say writes them all.
  const enabled = (base as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.bind(base);
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (obj: object, msg?: string): void => {
      if (enabled && !enabled(level)) return;
      child ??= base.child(bindings);
      child[level](obj, msg);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => {
      child ??= base.child(bindings);
      return child.child(more);
    },
  };
}
