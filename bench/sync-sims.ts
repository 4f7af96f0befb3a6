/**
 * The HubSpot and Salesforce simulators for `bench/sync.ts` and `bench/erasure.ts`, in a worker thread: a vendor's
 * servers do not share the service's event loop, so the benchmark must not make them.
 * Messages: `{ cmd: 'stats' }`, `{ cmd: 'check' }` (records not in the final state) and
 * `{ cmd: 'remaining' }` (records left, for the erasure benchmark), answered
 * on the same port; on start it posts `{ hubspot, salesforce }` (the simulators' URLs).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startHubSpotSimulator } from '../test/sim/hubspot.ts';
import { startSalesforceSimulator } from '../test/sim/salesforce.ts';

const { n, limits, latencyMs, phones } = workerData as {
  n: number;
  limits: {
    hubspot: { requests: number; windowMs: number };
    salesforce: { requests: number; windowMs: number };
  };
  latencyMs: number;
  phones: string[];
};
const hubspot = await startHubSpotSimulator({
  accessToken: 'bench-hs',
  requestsPerWindow: limits.hubspot.requests,
  windowMs: limits.hubspot.windowMs,
});
const salesforce = await startSalesforceSimulator({
  clientId: 'bench-sf',
  clientSecret: 'bench-sf-secret',
  orgId: '00D5e000000KQ2eEAG',
  requestsPerWindow: limits.salesforce.requests,
  windowMs: limits.salesforce.windowMs,
});
hubspot.setLatency(latencyMs);
salesforce.setLatency(latencyMs);
for (let i = 0; i < n; i++) {
  hubspot.addContact({ mobilephone: phones[i] as string, firstname: 'Bench' });
  salesforce.add('Contact', { MobilePhone: phones[i] as string, LastName: 'Bench' });
}
parentPort?.on('message', async (msg: { cmd: string }) => {
  if (msg.cmd === 'stats') {
    const s = salesforce.stats();
    parentPort?.postMessage({
      hubspot: { calls: hubspot.stats().calls, limited: hubspot.stats().rateLimited },
      salesforce: { calls: salesforce.calls(), limited: s.limited },
    });
  } else if (msg.cmd === 'check') {
    parentPort?.postMessage({
      hubspotWrong: hubspot.contacts().filter((c) => c.properties.whatsapp_marketing_consent !== 'withdrawn')
        .length,
      salesforceWrong: salesforce
        .all('Contact')
        .filter((c) => c.WhatsApp_Marketing_Consent__c !== 'Opted Out').length,
    });
  } else if (msg.cmd === 'remaining') {
    parentPort?.postMessage({
      hubspot: hubspot.contacts().length,
      salesforce: salesforce.all('Contact').length,
    });
  } else if (msg.cmd === 'close') {
    await hubspot.close();
    await salesforce.close();
    parentPort?.postMessage({ closed: true });
    parentPort?.close();
  }
});
parentPort?.postMessage({ hubspot: hubspot.url, salesforce: salesforce.url });
