import { z } from 'zod';
import { flag, httpUrl, listOf, port, secret } from './fields.ts';
import { directoryConfigSchema } from '../directory/config.ts';
import { pkiConfigSchema } from '../pki/config.ts';
import { oidcConfigSchema } from '../idp/oidc/config.ts';
import { oobConfigSchema } from '../authn/oob-config.ts';
import { jobsConfigSchema } from '../jobs/config.ts';
import { mailConfigSchema } from '../mail/config.ts';
import { housekeepingConfigSchema } from '../housekeeping/config.ts';
import { cardLoginConfigSchema } from '../authn/card-config.ts';
import { callerMtlsConfigSchema } from '../authn/caller-config.ts';
import { portalConfigSchema } from '../portal/config.ts';
import { samlConfigSchema } from '../idp/saml/config.ts';
import { databaseConfigSchema } from '../store/config.ts';

export const configSchema = z.strictObject({
  /** Folder of the embedded database, keys and certificates; `memory://` keeps everything in memory (tests). */
  dataDir: z.string().min(1).default('./data'),
  database: databaseConfigSchema,
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
  pki: pkiConfigSchema.prefault({}),
  directory: directoryConfigSchema.prefault({}),
  oidc: oidcConfigSchema.prefault({}),
  jobs: jobsConfigSchema.prefault({}),
  mail: mailConfigSchema.prefault({}),
  housekeeping: housekeepingConfigSchema.prefault({}),
  authn: z.strictObject({ oob: oobConfigSchema.prefault({}), mtls: cardLoginConfigSchema.prefault({}), callerMtls: callerMtlsConfigSchema.prefault({}) }).prefault({}),
  saml: samlConfigSchema.prefault({}),
  portal: portalConfigSchema.prefault({}),
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
