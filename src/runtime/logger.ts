import pino, { type DestinationStream } from 'pino';
import type { Log } from '../service/log.ts';

/**
 * pino JSON logs. Call sites pass only ids, counts and codes; the redaction list is a second line
 * of defence should a personal or secret field ever reach a log call.
 */
export function createLogger(level: string, destination?: DestinationStream): Log {
  return pino(
    {
      level,
      base: { service: 'consent-sync' },
      redact: {
        paths: [
          'phone',
          '*.phone',
          'e164',
          '*.e164',
          'to',
          '*.to',
          'body',
          '*.body',
          'text',
          '*.text',
          'token',
          '*.token',
          'authorization',
          '*.authorization',
          'headers',
          '*.headers',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

/** How Node writes its logs: JSON lines (production default) or pino-pretty's readable lines. */
export type LogFormat = 'json' | 'pretty';

/**
 * The format `LOG_FORMAT` asks for; unset: readable lines in development, JSON everywhere else (log
 * collectors read JSON).
 *
 * @example
 * logFormat({ NODE_ENV: 'development' }); // 'pretty'
 */
export function logFormat(config: { NODE_ENV: string; LOG_FORMAT?: LogFormat | undefined }): LogFormat {
  return config.LOG_FORMAT ?? (config.NODE_ENV === 'development' ? 'pretty' : 'json');
}

/**
 * A Node logger in the given format, to stdout (`fd` 1) or stderr (2). pino-pretty runs in this
 * process as a synchronous stream (no worker thread), so nothing is lost when the process exits;
 * should it be missing (a production install without dev dependencies) the lines stay JSON.
 *
 * @example
 * const log = await createNodeLogger('info', 'pretty', 2);
 */
export async function createNodeLogger(level: string, format: LogFormat, fd: 1 | 2 = 1): Promise<Log> {
  if (format === 'pretty') {
    try {
      const { default: pretty } = await import('pino-pretty');
      const tty = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
      return createLogger(
        level,
        pretty({
          destination: fd,
          sync: true,
          colorize: tty,
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'pid,hostname,service',
        }),
      );
    } catch {
      // pino-pretty is a development dependency: without it, JSON it is
    }
  }
  return createLogger(level, fd === 2 ? pino.destination(2) : undefined);
}
