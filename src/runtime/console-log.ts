/**
 * The logger port on Workers: one JSON line per entry through `console` (Workers Logs / Logpush
 * collect them). Callers pass only non-personal fields, as on Node.
 */
import type { Log } from '../service/log.ts';

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

export function consoleLog(level: string, bindings: Record<string, unknown> = {}): Log {
  const min = Math.max(0, LEVELS.indexOf(level as (typeof LEVELS)[number]));
  const emit = (lvl: 'debug' | 'info' | 'warn' | 'error') => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(lvl) < min) return;
    const line = JSON.stringify({
      level: lvl,
      time: Date.now(),
      service: 'consent-sync',
      ...bindings,
      ...obj,
      msg,
    });
    if (lvl === 'error') console.error(line);
    else if (lvl === 'warn') console.warn(line);
    // biome-ignore lint/suspicious/noConsole: on Workers, console is the log sink (Workers Logs, Logpush)
    else console.log(line);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (more) => consoleLog(level, { ...bindings, ...more }),
  };
}
