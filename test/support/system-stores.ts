import { randomBytes } from 'node:crypto';
import pg from 'pg';

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
      const schema = `test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: databaseUrl });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      const scoped = new URL(databaseUrl);
      scoped.searchParams.set('options', `-c search_path=${schema}`);
      return {
        overrides: { database: { url: scoped.toString(), poolSize: 8 }, redis: { url: redisUrl, keyPrefix: `tillit-test:${schema}:` } },
        async cleanup() {
          const client = new pg.Client({ connectionString: databaseUrl });
          await client.connect();
          await client.query(`drop schema ${schema} cascade`);
          await client.end();
        },
      };
    },
  });
  return targets;
}
