import { freshSchema } from './schema.ts';

export interface SystemStoreTarget {
  readonly name: string;
  /** Config overrides that put a whole system on these stores, and how to remove what it left. */
  stores(): Promise<{ overrides: Record<string, unknown>; cleanup(): Promise<void> }>;
}

/**
 * For tests and benchmarks that start a whole system: the embedded stores
 * (PGlite in memory, short-lived state in memory) always, and PostgreSQL +
 * Redis when DATABASE_URL and REDIS_URL are set — a fresh schema and key
 * prefix each time, dropped afterwards.
 */
export function systemStoreTargets(): SystemStoreTarget[] {
  const targets: SystemStoreTarget[] = [{ name: 'PGlite + memory', stores: async () => ({ overrides: {}, cleanup: async () => {} }) }];
  const databaseUrl = process.env['DATABASE_URL'];
  const redisUrl = process.env['REDIS_URL'];
  if (!databaseUrl || !redisUrl) return targets;
  targets.push({
    name: 'PostgreSQL + Redis',
    async stores() {
      const schema = await freshSchema(databaseUrl, 'test');
      return {
        overrides: { database: { url: schema.url, poolSize: 8 }, redis: { url: redisUrl, keyPrefix: `tillit-test:${schema.name}:` } },
        cleanup: schema.drop,
      };
    },
  });
  return targets;
}
