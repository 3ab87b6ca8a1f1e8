import type { Config } from '../config/index.ts';
import { CONNECTION_TIMEOUT_MS } from './config.ts';
import type { Database } from './database.ts';
import { createMemoryStore, type EphemeralStore } from './ephemeral.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import { openRedis } from './redis.ts';

export type { Database, Queryable } from './database.ts';
export { StoreUnavailableError } from './database.ts';
export type { EphemeralStore } from './ephemeral.ts';
export { createMemoryStore, EphemeralStoreError } from './ephemeral.ts';
export { migrate, isMigrated, readMigrations, MigrationError, type Migration, type MigrationResult } from './migrate.ts';
export { redactUrl } from './postgres.ts';

/** PostgreSQL when `database.url` is set, else the embedded PGlite in `dataDir`. */
export function openDatabase(config: Pick<Config, 'dataDir'> & { readonly database: Omit<Config['database'], 'connectionTimeoutMs'> & { readonly connectionTimeoutMs?: number } }): Promise<Database> {
  const { url, poolSize, connectionTimeoutMs = CONNECTION_TIMEOUT_MS } = config.database;
  return url ? openPostgres(url, { poolSize, connectionTimeoutMs }) : openPglite(config.dataDir);
}

/** Redis when `redis.url` is set, else memory (one process only). */
export function openEphemeralStore(config: Pick<Config, 'redis'>): Promise<EphemeralStore> {
  return config.redis.url ? openRedis(config.redis.url, config.redis.keyPrefix) : Promise.resolve(createMemoryStore());
}
