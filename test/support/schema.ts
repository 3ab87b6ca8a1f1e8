import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface FreshSchema {
  readonly name: string;
  /** The PostgreSQL URL with this schema as its search_path. */
  readonly url: string;
  drop(): Promise<void>;
}

/** A new empty schema in the PostgreSQL at `url`, so a test or bench never sees another's rows. */
export async function freshSchema(url: string, prefix: string): Promise<FreshSchema> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await asAdmin(url, `create schema ${name}`);
  const scoped = new URL(url);
  scoped.searchParams.set('options', `-c search_path=${name}`);
  return { name, url: scoped.toString(), drop: () => asAdmin(url, `drop schema if exists ${name} cascade`) };
}

async function asAdmin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
