/** A connection, or a transaction on one, that runs PostgreSQL-dialect SQL. */
export interface Queryable {
  /**
   * Runs one statement with `$1`-style parameters and returns its rows.
   * Types come back alike on PGlite and PostgreSQL: int8 and count(*) as
   * `number`, numeric as `string`, timestamptz as `Date`, bytea as `Uint8Array`.
   */
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[], options?: QueryOptions): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface QueryOptions {
  /**
   * Keep the statement prepared on each connection, so PostgreSQL parses and
   * plans it once there rather than on every call. Only for hot statements
   * whose text never changes: each distinct text stays on every connection.
   */
  readonly prepare?: boolean;
}

export interface Database extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The store could not be opened or reached; the message says which and why, without secrets. */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
}

export const INT8_OID = 20;
