import { createHash } from 'node:crypto';
import pg from 'pg';
import { INT8_OID, StoreUnavailableError, type Database, type Queryable, type QueryOptions } from './database.ts';

const BYTEA_OID = 17;

const typeParsers: Record<number, (value: string) => unknown> = {
  [INT8_OID]: (value) => Number(value),
  // pg returns Buffer, a Uint8Array subclass; PGlite returns a plain Uint8Array. Keep them alike.
  [BYTEA_OID]: (value) => new Uint8Array(pg.types.getTypeParser(BYTEA_OID)(value) as Buffer),
};

/** Opens a pool on a real PostgreSQL server and checks that it answers. */
export async function openPostgres(url: string, options: { readonly poolSize: number; readonly connectionTimeoutMs: number }): Promise<Database> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize,
    // Also bounds the wait for a free client when every connection is busy.
    connectionTimeoutMillis: options.connectionTimeoutMs,
    types: { getTypeParser: ((oid: number, format?: string) => typeParsers[oid] ?? pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser },
  });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  try {
    await pool.query('select 1');
  } catch (cause) {
    await pool.end().catch(() => {});
    throw new StoreUnavailableError(`PostgreSQL at ${redactUrl(url)} is not reachable: ${(cause as Error).message}`, { cause });
  }
  const run = (client: pg.Pool | pg.PoolClient): Queryable => ({
    async query<R extends object>(text: string, params: readonly unknown[] = [], options: QueryOptions = {}) {
      const result = await client.query(options.prepare ? { name: statementName(text), text, values: params as unknown[] } : { text, values: params as unknown[] });
      return result.rows as R[];
    },
    async exec(script: string) {
      // Without parameters pg uses the simple query protocol, which runs several statements.
      await client.query(script);
    },
  });
  return {
    kind: 'postgres',
    ...run(pool),
    async transaction(work) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await work(run(client));
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** A prepared statement's name, from its text: pg refuses one name for two texts, so the name must follow the text. */
const statementNames = new Map<string, string>();
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `tillit_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    statementNames.set(text, name);
  }
  return name;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
