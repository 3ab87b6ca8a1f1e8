import { z } from 'zod';
import { secret } from '../config/fields.ts';

/**
 * How long a query waits for a PostgreSQL connection: a free one from the
 * pool, or a new one to the server. Under a burst (the authn bench runs 1,000
 * requests at once on 10 connections) queries queue for the pool, so this is
 * well above any one query's time; a server that does not answer still fails
 * the start after this long.
 */
export const CONNECTION_TIMEOUT_MS = 30_000;

export const databaseConfigSchema = z
  .strictObject({
    url: secret(z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional()),
    poolSize: z.coerce.number().int().min(1).max(500).default(10),
    connectionTimeoutMs: z.coerce.number().int().min(100).max(600_000).default(CONNECTION_TIMEOUT_MS),
  })
  .prefault({});
