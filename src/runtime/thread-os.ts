/**
 * The calling thread as the operating system sees it (Linux: `/proc/thread-self`), for the decider
 * thread: a name that `top -H` and `ps -L` show, and a lower scheduling priority (a nice value) when
 * the operator prefers acknowledgements to decisions on a contended machine (`DECIDER_NICE`).
 * Elsewhere (no `/proc`) both do nothing and say so.
 */
import { readlinkSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The calling thread's OS id (Linux), or null where `/proc/thread-self` is missing. */
export function osThreadId(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : null;
  } catch {
    return null;
  }
}

/** Names the calling thread (at most 15 bytes are kept by Linux); false where it cannot. */
export function nameThread(name: string): boolean {
  try {
    writeFileSync('/proc/thread-self/comm', name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Sets the calling thread's nice value (0–19: higher yields the CPU to the process's other threads);
 * only this thread changes (Linux's setpriority on a thread id). False where it cannot.
 */
export function niceThread(nice: number): boolean {
  const tid = osThreadId();
  if (tid === null) return false;
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
