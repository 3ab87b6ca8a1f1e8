/**
 * Short-lived state with a time to live: SSO sessions, authentication orders,
 * one-time codes, replay caches, attempt counters. Values are strings (callers
 * store JSON); every key expires.
 */
export interface EphemeralStore {
  readonly kind: 'memory' | 'redis';
  get(key: string): Promise<string | null>;
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Stores only if the key is absent; true when stored (replay caches, one-shot locks). */
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Reads and deletes in one step, so a one-time value is used at most once. */
  take(key: string): Promise<string | null>;
  delete(key: string): Promise<void>;
  /** Adds one and returns the new count; the TTL is set when the key is created. */
  increment(key: string, ttlMs: number): Promise<number>;
  /** Remaining lifetime in ms, or null when the key is absent. */
  ttl(key: string): Promise<number | null>;
  /**
   * Appends `value` to the list kept beside `ownerKey` (a count at
   * `<ownerKey>:n`, each value at `<ownerKey>:p:<n>`), living as long as
   * `ownerKey` does. One step: appends at once never lose each other. False,
   * and nothing stored, when `ownerKey` is absent.
   */
  append(ownerKey: string, value: string): Promise<boolean>;
  /** The values appended beside `ownerKey`, oldest first. */
  appended(ownerKey: string): Promise<string[]>;
  /** True when the store answers (for /readyz). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export class EphemeralStoreError extends Error {
  override readonly name = 'EphemeralStoreError';
}

export function checkTtl(ttlMs: number): number {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new EphemeralStoreError(`ttl must be a positive whole number of ms, got ${ttlMs}`);
  return ttlMs;
}

interface Entry {
  value: string;
  expiresAt: number;
}

/** The in-memory store for one process; `now` is injectable for tests. */
export function createMemoryStore(now: () => number = Date.now, sweepEveryMs = 30_000): EphemeralStore {
  const entries = new Map<string, Entry>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  // Expired keys nobody reads again must not pile up.
  const sweeper = setInterval(() => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  }, sweepEveryMs);
  sweeper.unref();
  return {
    kind: 'memory',
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlMs) {
      entries.set(key, { value, expiresAt: now() + checkTtl(ttlMs) });
    },
    async setIfAbsent(key, value, ttlMs) {
      checkTtl(ttlMs);
      if (live(key)) return false;
      entries.set(key, { value, expiresAt: now() + ttlMs });
      return true;
    },
    async take(key) {
      const entry = live(key);
      entries.delete(key);
      return entry?.value ?? null;
    },
    async delete(key) {
      entries.delete(key);
    },
    async increment(key, ttlMs) {
      checkTtl(ttlMs);
      const entry = live(key);
      const count = entry ? Number(entry.value) + 1 : 1;
      entries.set(key, { value: String(count), expiresAt: entry?.expiresAt ?? now() + ttlMs });
      return count;
    },
    async ttl(key) {
      const entry = live(key);
      return entry ? entry.expiresAt - now() : null;
    },
    async append(ownerKey, value) {
      const owner = live(ownerKey);
      if (!owner) return false;
      const counter = live(`${ownerKey}:n`);
      const count = counter ? Number(counter.value) + 1 : 1;
      entries.set(`${ownerKey}:n`, { value: String(count), expiresAt: counter?.expiresAt ?? owner.expiresAt });
      entries.set(`${ownerKey}:p:${count}`, { value, expiresAt: owner.expiresAt });
      return true;
    },
    async appended(ownerKey) {
      const count = Number(live(`${ownerKey}:n`)?.value ?? 0);
      return Array.from({ length: count }, (_, i) => live(`${ownerKey}:p:${i + 1}`)?.value).filter((v): v is string => v !== undefined);
    },
    async ping() {
      return true;
    },
    async close() {
      clearInterval(sweeper);
      entries.clear();
    },
  };
}
