import type { PurposeState } from '../core/types.ts';

/** The contract's per-purpose shape (`GET /v1/subjects/{phone}`), from a derived state. */
export function stateView(s: PurposeState | null | undefined) {
  return {
    status: s?.status ?? ('none' as const),
    changedAt: s?.changedAt ?? null,
    source: s?.source ?? null,
    doubleOptInAt: s?.doubleOptInAt ?? null,
    pendingExpiresAt: s?.status === 'pending' ? s.pendingExpiresAt : null,
    textVersion: s?.textVersion ?? null,
  };
}

/** Every catalog purpose, `none` where the person has no state. */
export function statesView(purposes: readonly string[], states: PurposeState[]) {
  const byPurpose = new Map(states.map((s) => [s.purpose, s]));
  const all = new Set([...purposes, ...byPurpose.keys()]);
  return Object.fromEntries([...all].map((p) => [p, stateView(byPurpose.get(p))]));
}
