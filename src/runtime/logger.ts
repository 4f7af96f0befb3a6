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
