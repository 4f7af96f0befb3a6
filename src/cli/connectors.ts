import type { ConnectorName } from '../../connectors/types.ts';
import { CliError, UsageError } from './output.ts';

/**
 * The connectors a command works on: the one named by `--connector`, or every enabled one.
 * Fails when none is configured, and with a usage error when the name is not an enabled one.
 */
export function pickConnectors(enabled: ConnectorName[], wanted: string | undefined): ConnectorName[] {
  if (enabled.length === 0)
    throw new CliError(
      'no CRM is configured (set HUBSPOT_ACCESS_TOKEN, or SALESFORCE_CLIENT_ID and SALESFORCE_CLIENT_SECRET)',
    );
  if (wanted === undefined) return enabled;
  const match = enabled.find((c) => c === wanted);
  if (!match) throw new UsageError(`--connector must be one of the configured CRMs: ${enabled.join(', ')}`);
  return [match];
}
