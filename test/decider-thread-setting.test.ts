/**
 * DECIDER_THREAD: `auto` (default) gives the decider a thread of its own when the process may use two
 * cores or more; `on` and `off` are what they say (docs/configuration.md). DECIDER_NICE: the decider
 * thread's nice value, 0 (default) to 19.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { deciderThreadWanted } from '../src/runtime/node.ts';

/** The secrets every environment needs (made-up values). */
const env = (more: Record<string, string> = {}) => ({
  PII_KEY: toBase64(new Uint8Array(32).fill(7)),
  API_KEYS: 'admin:setting-test-admin-token-aaaa',
  WHATSAPP_APP_SECRET: 'setting-test-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'setting-test-verify-token',
  ...more,
});

describe('DECIDER_THREAD', () => {
  it('auto asks for two cores or more; on and off are the same on every machine', () => {
    expect(deciderThreadWanted('auto', 1)).toBe(false);
    expect(deciderThreadWanted('auto', 2)).toBe(true);
    expect(deciderThreadWanted('auto', 16)).toBe(true);
    expect(deciderThreadWanted('on', 1)).toBe(true);
    expect(deciderThreadWanted('off', 16)).toBe(false);
  });

  it('defaults to auto and refuses another value by name', () => {
    expect(parseConfig(env()).DECIDER_THREAD).toBe('auto');
    expect(parseConfig(env({ DECIDER_THREAD: 'off' })).DECIDER_THREAD).toBe('off');
    expect(() => parseConfig(env({ DECIDER_THREAD: 'maybe' }))).toThrow(ConfigError);
    expect(() => parseConfig(env({ DECIDER_THREAD: 'maybe' }))).toThrow(/DECIDER_THREAD/);
  });
});

describe('DECIDER_NICE', () => {
  it('defaults to 0 and takes 0–19; anything else is refused by name', () => {
    expect(parseConfig(env()).DECIDER_NICE).toBe(0);
    expect(parseConfig(env({ DECIDER_NICE: '10' })).DECIDER_NICE).toBe(10);
    expect(parseConfig(env({ DECIDER_NICE: '19' })).DECIDER_NICE).toBe(19);
    for (const bad of ['-1', '20', '2.5', 'low']) {
      expect(() => parseConfig(env({ DECIDER_NICE: bad }))).toThrow(/DECIDER_NICE/);
    }
  });
});
