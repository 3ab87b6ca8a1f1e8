import { Redis } from 'ioredis';
import { redactUrl } from './postgres.ts';
import { checkTtl, type EphemeralStore } from './ephemeral.ts';
import { StoreUnavailableError } from './database.ts';

// INCR and setting the TTL on the first count must be one step, or a crash between them leaves a counter that never expires.
const INCREMENT_SCRIPT = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** Opens Redis and checks that it answers; every key is put under `prefix`. */
export async function openRedis(url: string, prefix: string): Promise<EphemeralStore> {
  const redis = new Redis(url, {
    keyPrefix: prefix,
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 2,
    // Fail fast at start; once running, keep reconnecting with a capped back-off.
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', () => {});
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
      return Number(await redis.eval(INCREMENT_SCRIPT, 1, key, checkTtl(ttlMs)));
    },
    async ttl(key) {
      const ms = await redis.pttl(key);
      return ms < 0 ? null : ms;
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
