import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Database } from './database.ts';

export const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url).pathname;

/** Any fixed 64-bit key works; every node must use the same one. */
const MIGRATION_LOCK_KEY = 7_342_114_009;
const NAME_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;

export interface Migration {
  readonly name: string;
  readonly sql: string;
  readonly checksum: string;
}

export interface MigrationResult {
  readonly applied: readonly string[];
  readonly alreadyApplied: number;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const seen = new Set<string>();
  const migrations: Migration[] = [];
  for (const name of names) {
    const match = NAME_PATTERN.exec(name);
    if (!match) throw new MigrationError(`migration file ${name} is misnamed: use NNNN_lower_snake.sql`);
    if (seen.has(match[1]!)) throw new MigrationError(`two migrations share number ${match[1]}`);
    seen.add(match[1]!);
    const sql = await readFile(join(dir, name), 'utf8');
    migrations.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return migrations;
}

/**
 * Applies pending migrations in one transaction under an advisory lock:
 * nodes starting together wait for each other, and a failing migration
 * leaves the schema exactly as it was (PostgreSQL DDL is transactional).
 * An applied migration whose file changed stops the start: migrations are
 * forward-only, so a fix is a new file.
 */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<MigrationResult> {
  return db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`create table if not exists schema_migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const rows = await tx.query<{ name: string; checksum: string }>('select name, checksum from schema_migrations');
    const done = new Map(rows.map((row) => [row.name, row.checksum]));
    const known = new Set(migrations.map((m) => m.name));
    const unknown = [...done.keys()].filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new MigrationError(`the database has migrations this version does not know (${unknown.join(', ')}): it was migrated by a newer Tillit`);
    }
    const applied: string[] = [];
    for (const migration of migrations) {
      const checksum = done.get(migration.name);
      if (checksum !== undefined) {
        if (checksum !== migration.checksum) {
          throw new MigrationError(`migration ${migration.name} was changed after it was applied; add a new migration instead`);
        }
        continue;
      }
      try {
        await tx.exec(migration.sql);
      } catch (cause) {
        throw new MigrationError(`migration ${migration.name} failed: ${(cause as Error).message}; nothing was applied`, { cause });
      }
      await tx.query('insert into schema_migrations (name, checksum) values ($1, $2)', [migration.name, migration.checksum]);
      applied.push(migration.name);
    }
    return { applied, alreadyApplied: done.size };
  });
}

/** True when every known migration is applied (for /readyz). */
export async function isMigrated(db: Database, migrations: readonly Migration[]): Promise<boolean> {
  const rows = await db.query<{ name: string }>(
    `select name from schema_migrations where name = any($1::text[])`,
    [migrations.map((m) => m.name)],
  );
  return rows.length === migrations.length;
}
