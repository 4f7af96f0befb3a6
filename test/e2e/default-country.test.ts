/**
 * DEFAULT_COUNTRY: off by default; when set, a national number typed into the API or the console is
 * read as a number of that country. Identifiers from Meta are never read with it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { signIn } from '../helpers/console.ts';
import { type Harness, json, startHarness, TOKENS } from '../helpers/harness.ts';
import { textMessage } from '../helpers/whatsapp.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const NATIONAL = '0151 12340777'; // fictitious German mobile number, national format
const E164 = '+4915112340777';

describe('DEFAULT_COUNTRY', () => {
  it('is off by default: a national format is refused with 400 and nothing is recorded', async () => {
    h = await startHarness();
    const res = await h.request('/v1/consents', {
      method: 'POST',
      role: 'admin',
      json: { phone: NATIONAL, purposes: ['marketing'] },
    });
    expect(res.status).toBe(400);
    expect(await h.services.store.listSubjects('', 10)).toEqual([]);
  });

  it('reads national numbers typed into the API and the console, never Meta ids', async () => {
    h = await startHarness({ env: { DEFAULT_COUNTRY: 'de' } });
    const res = await h.request('/v1/consents', {
      method: 'POST',
      role: 'admin',
      json: { phone: NATIONAL, purposes: ['marketing'] },
    });
    expect(res.status).toBe(202);
    const byE164 = await json<{ purposes: Record<string, { status: string }> }>(
      await h.request(`/v1/subjects/${encodeURIComponent(E164)}`, { role: 'operator' }),
    );
    expect(byE164.purposes.marketing?.status).toBe('pending');
    const byNational = await json<{ known: boolean }>(
      await h.request(`/v1/subjects/${encodeURIComponent(NATIONAL)}`, { role: 'operator' }),
    );
    expect(byNational.known).toBe(true);
    const x = h;
    const console = await signIn((path, init) => x.request(path, init), TOKENS.operator);
    expect(await (await console.post('/admin/people', { phone: NATIONAL })).text()).toMatch(
      /data-purpose="marketing">.*pending/s,
    );
    // A WhatsApp id from Meta is international by definition: "015112340777" is not read as German.
    await h.webhook(textMessage('15112340777', 'STOP'));
    expect(
      (
        await json<{ purposes: Record<string, { status: string }> }>(
          await h.request(`/v1/subjects/${encodeURIComponent(E164)}`, { role: 'operator' }),
        )
      ).purposes.marketing?.status,
    ).toBe('pending');
  });

  it('refuses a value that is not an ISO 3166 alpha-2 code, naming the variable', async () => {
    await expect(startHarness({ env: { DEFAULT_COUNTRY: 'Germany' } })).rejects.toThrow(/DEFAULT_COUNTRY/);
  });
});
