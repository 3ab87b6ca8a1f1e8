import { z } from 'zod';

// Field types every config section shares. This module imports no section, so
// a domain's config schema can use these without an import cycle.

/** Marks a value that `tillit config print` and logs must never show. */
export const secret = <T extends z.ZodType>(schema: T): T => schema.meta({ secret: true });

const PORT_MESSAGE = 'expected a port number (0–65535)';
export const port = z.coerce.number({ error: PORT_MESSAGE }).int(PORT_MESSAGE).min(0, PORT_MESSAGE).max(65_535, PORT_MESSAGE);

/** A boolean from JSON, or `true`/`false`/`1`/`0` from the environment. */
export const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

/** An http(s) URL without a trailing slash. */
export const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

/** A list from JSON, or comma-separated from the environment. */
export const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(item));
