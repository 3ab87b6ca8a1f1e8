import { z } from 'zod';
import { directoryConfigSchema } from '../directory/config.ts';

/** Marks a value that `tillit config print` and logs must never show. */
export const secret = <T extends z.ZodType>(schema: T): T => schema.meta({ secret: true });

const port = z.coerce.number({ error: 'expected a port number (0–65535)' }).int('expected a port number (0–65535)').min(0, 'expected a port number (0–65535)').max(65_535, 'expected a port number (0–65535)');
const flag = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

const listOf = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v), z.array(item));

export const configSchema = z.strictObject({
  /** Folder of the embedded database, keys and certificates; `memory://` keeps everything in memory (tests). */
  dataDir: z.string().min(1).default('./data'),
  database: z
    .strictObject({
      url: secret(z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL').optional()),
      poolSize: z.coerce.number().int().min(1).max(500).default(10),
    })
    .prefault({}),
  redis: z
    .strictObject({
      url: secret(z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional()),
      keyPrefix: z.string().default('tillit:'),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z.string().min(1).default('localhost'),
      httpsPort: port.default(8443),
      httpPort: port.default(8080),
      publicBaseUrl: httpUrl.default('https://localhost:8443'),
      /** Base of the plain-HTTP URLs put in certificates (CRL, OCSP, CA issuers). */
      plainBaseUrl: httpUrl.default('http://localhost:8080'),
      tls: z
        .strictObject({
          certFile: z.string().optional(),
          keyFile: z.string().optional(),
        })
        .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), 'certFile and keyFile go together')
        .prefault({}),
      trustProxy: flag.default(false),
      shutdownTimeoutMs: z.coerce.number().int().min(0).default(10_000),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  directory: directoryConfigSchema.prefault({}),
  /** Parts to run in this process; empty means all (the server checks the names against what it has). */
  parts: listOf(z.string().regex(/^[a-z][a-z-]*$/, 'expected part names like pki,directory')).default([]),
  demo: z
    .strictObject({
      seed: flag.default(true),
      regionName: z.string().min(1).default('Region Demo'),
    })
    .prefault({}),
});

export type Config = z.infer<typeof configSchema>;
