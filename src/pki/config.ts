import { z } from 'zod';
import { flag, secret } from '../config/fields.ts';

export const KEY_ALGORITHMS = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'] as const;
export type KeyAlgorithmName = (typeof KEY_ALGORITHMS)[number];

const caSchema = (name: string, years: number) =>
  z
    .strictObject({
      name: z.string().min(3).default(name),
      algorithm: z.enum(KEY_ALGORITHMS).default('ecdsa-p256'),
      validityYears: z.coerce.number().int().min(1).max(40).default(years),
    })
    .prefault({});

export const pkiConfigSchema = z.strictObject({
  /** Passphrase that encrypts CA keys at rest; unset: one is made once and kept in `dataDir/pki/passphrase` (mode 0600). */
  keyPassphrase: secret(z.string().min(16, 'at least 16 characters').optional()),
  /** Arc under which the policy OIDs live; `2.25.<uuid as integer>` needs no registration. */
  policyArc: z.string().regex(/^[0-2](\.\d+)+$/, 'a dotted OID').default('2.25.198158283514957040623735785113620367431'),
  organisation: z.string().min(1).default('Tillit'),
  country: z.string().length(2).default('SE'),
  root: caSchema('Tillit Root CA v1', 20),
  issuing: z
    .strictObject({
      personHsaLoa3: caSchema('Tillit Person HSA-id CA LoA3 v1', 10),
      personPnrLoa3: caSchema('Tillit Person Personnummer CA LoA3 v1', 10),
      mobile: caSchema('Tillit Mobile eID CA v1', 10),
      personHsaLoa2: caSchema('Tillit Person HSA-id CA LoA2 v1', 10),
      personPnrLoa2: caSchema('Tillit Person Personnummer CA LoA2 v1', 10),
      function: caSchema('Tillit Function CA v1', 10),
    })
    .prefault({}),
  testRoot: caSchema('Tillit Test Root CA v1', 20),
  test: caSchema('Tillit Test Card CA v1', 10),
  crl: z
    .strictObject({
      /** How long a CRL is valid; it is re-published well before, and within seconds of a revocation. */
      validityHours: z.coerce.number().int().min(1).max(24 * 14).default(24),
      republishEveryMinutes: z.coerce.number().int().min(1).default(60),
    })
    .prefault({}),
  ocsp: z
    .strictObject({
      /** Validity of a pre-produced response (nextUpdate − thisUpdate). */
      validityMinutes: z.coerce.number().int().min(1).max(24 * 60 * 7).default(60),
    })
    .prefault({}),
  /** RFC 5280 certificateHold: a revocation that can be released. Off, as most relying parties mishandle it. */
  allowCertificateHold: flag.default(false),
});

export type PkiConfig = z.infer<typeof pkiConfigSchema>;
