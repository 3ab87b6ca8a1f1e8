import { randomBytes } from 'node:crypto';
import { freshSchema } from './schema.ts';
import { createMemoryStore, migrate, openDatabase, openEphemeralStore, readMigrations, type Database, type EphemeralStore } from '../../src/store/index.ts';

export interface DatabaseTarget {
  readonly name: 'pglite' | 'postgres';
  /** A fresh, empty database (PGlite in memory, or a new schema on PostgreSQL). */
  open(options?: { migrated?: boolean }): Promise<Database>;
}

/** PGlite always; PostgreSQL too when DATABASE_URL is set. */
export function databaseTargets(): DatabaseTarget[] {
  const targets: DatabaseTarget[] = [{ name: 'pglite', open: (options) => prepare(openDatabase({ dataDir: 'memory://', database: { poolSize: 1 } }), options) }];
  const url = process.env['DATABASE_URL'];
  if (url) targets.push({ name: 'postgres', open: (options) => prepare(openIsolatedPostgres(url), options) });
  return targets;
}

async function prepare(opening: Promise<Database>, options: { migrated?: boolean } = {}): Promise<Database> {
  const db = await opening;
  if (options.migrated ?? true) await migrate(db, await readMigrations());
  return db;
}

/** Each test database is its own schema, dropped on close, so test files never see each other's rows. */
async function openIsolatedPostgres(url: string): Promise<Database> {
  const schema = await freshSchema(url, 'test');
  const db = await openDatabase({ dataDir: 'memory://', database: { url: schema.url, poolSize: 4 } });
  return {
    ...db,
    async close() {
      await db.close();
      await schema.drop();
    },
  };
}

export interface EphemeralTarget {
  readonly name: 'memory' | 'redis';
  open(): Promise<EphemeralStore>;
}

/** Memory always; Redis too when REDIS_URL is set (keys under a random prefix). */
export function ephemeralTargets(): EphemeralTarget[] {
  const targets: EphemeralTarget[] = [{ name: 'memory', open: async () => createMemoryStore() }];
  const url = process.env['REDIS_URL'];
  if (url) targets.push({ name: 'redis', open: () => openEphemeralStore({ redis: { url, keyPrefix: `tillit-test:${randomBytes(6).toString('hex')}:` } }) });
  return targets;
}
