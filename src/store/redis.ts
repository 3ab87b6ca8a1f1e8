import { Redis } from 'ioredis';
import { redactUrl } from './postgres.ts';
import { checkTtl, type EphemeralStore } from './ephemeral.ts';
import { StoreUnavailableError } from './database.ts';

// INCR and setting the TTL on the first count must be one step, or a crash between them leaves a counter that never expires.
const INCREMENT_SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

// The owner's remaining lifetime, the count and the value in one step. The value's key is made from KEYS[1] (already
// prefixed) and the count, so it is not declared: fine on one Redis server, which is what this store uses.
const APPEND_SCRIPT = `local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 then return 0 end
local n = redis.call('INCR', KEYS[1] .. ':n')
if n == 1 then redis.call('PEXPIRE', KEYS[1] .. ':n', ttl) end
redis.call('SET', KEYS[1] .. ':p:' .. n, ARGV[1], 'PX', ttl)
return 1`;

/** Opens Redis and checks that it answers; every key is put under `prefix`. */
export async function openRedis(url: string, prefix: string): Promise<EphemeralStore> {
  const redis = new Redis(url, {
    keyPrefix: prefix,
    // No enableAutoPipelining: measured with the SSO path's commands (two pairs issued together, 8 requests at a
    // time) it saved no CPU, and it makes a pipeline object per turn (copying every defined script onto it).
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 2,
    // Fail fast at start; once running, keep reconnecting with a capped back-off.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => {});
  // EVALSHA, loading the script when Redis does not have it.
  redis.defineCommand('tillitIncrement', { numberOfKeys: 1, lua: INCREMENT_SCRIPT });
  redis.defineCommand('tillitAppend', { numberOfKeys: 1, lua: APPEND_SCRIPT });
  const scripts = redis as Redis & { tillitIncrement(key: string, ttlMs: number): Promise<number>; tillitAppend(ownerKey: string, value: string): Promise<number> };
  try {
    await redis.connect();
    await redis.ping();
  } catch (cause) {
    redis.disconnect();
    throw new StoreUnavailableError(`Redis at ${redactUrl(url)} is not reachable: ${(cause as Error).message}`, { cause });
  }
  return {
    kind: 'redis',
    get: (key) => redis.get(key),
    async set(key, value, ttlMs) {
      await redis.set(key, value, 'PX', checkTtl(ttlMs));
    },
    async setIfAbsent(key, value, ttlMs) {
      return (await redis.set(key, value, 'PX', checkTtl(ttlMs), 'NX')) === 'OK';
    },
    take: (key) => redis.getdel(key),
    async delete(key) {
      await redis.del(key);
    },
    async increment(key, ttlMs) {
      return Number(await scripts.tillitIncrement(key, checkTtl(ttlMs)));
    },
    async ttl(key) {
      const ms = await redis.pttl(key);
      return ms < 0 ? null : ms;
    },
    async append(ownerKey, value) {
      return (await scripts.tillitAppend(ownerKey, value)) === 1;
    },
    async appended(ownerKey) {
      const count = Number((await redis.get(`${ownerKey}:n`)) ?? 0);
      if (count === 0) return [];
      const values = await redis.mget(Array.from({ length: count }, (_, i) => `${ownerKey}:p:${i + 1}`));
      return values.filter((v): v is string => v !== null);
    },
    async ping() {
      try {
        return (await redis.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
