import { z } from 'zod';
import { flag, httpUrl } from '../../config/fields.ts';

/** A federation aggregate the IdP refreshes on its own. */
const aggregateSchema = z.strictObject({
  /** An https URL (or a file) of the signed `md:EntitiesDescriptor`. */
  source: z.string().min(1),
  /** PEM certificate whose key signs the aggregate. */
  certificateFile: z.string().min(1),
  /** The shortest of these is the default schedule of the `saml-aggregate-refresh` job (`jobs.schedule.samlAggregateRefresh` overrides it). */
  refreshMinutes: z.coerce.number().int().min(5).default(60),
  /** Login methods and attributes every SP of the aggregate gets (as `tillit sp add`). */
  methods: z.array(z.string()).optional(),
  attributes: z.array(z.string()).optional(),
  attributeNames: z.enum(['sambi', 'oid']).optional(),
});

const seconds = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);
const localized = (sv: string, en: string) => z.strictObject({ sv: z.string().min(1).default(sv), en: z.string().min(1).default(en) }).prefault({});

/** The SAML identity provider's settings; every one has a default that suits a small region. */
export const samlConfigSchema = z.strictObject({
  /** RSA modulus of the IdP's signing and encryption keys (made on first start). */
  keyBits: z.coerce
    .number()
    .int()
    .refine((n) => n === 2048 || n === 3072 || n === 4096, 'expected 2048, 3072 or 4096')
    .default(3072),
  /** What responses and metadata are signed with (SHA-1 is never offered). */
  signatureAlgorithm: z.enum(['rsa-sha256', 'rsa-sha512']).default('rsa-sha256'),
  /** Publish WantAuthnRequestsSigned and refuse unsigned AuthnRequests from every SP. */
  wantAuthnRequestsSigned: flag.default(false),
  /** The organisation running the IdP, as SPs show it. */
  organization: z
    .strictObject({
      name: localized('Tillit', 'Tillit'),
      displayName: localized('Tillit identitetsintyg', 'Tillit identity provider'),
      /** Defaults to server.publicBaseUrl. */
      url: httpUrl.optional(),
    })
    .prefault({}),
  /** How long SPs may rely on the signed metadata before fetching it again. */
  metadataValidDays: seconds(7),
  /** Clocks may differ this much between an SP and us. */
  clockSkewSeconds: seconds(60, 0),
  /** An AuthnRequest older than this (by its IssueInstant) is refused; its ID is remembered this long against replay. */
  requestLifetimeSeconds: seconds(300, 30),
  /** How long an assertion (and its bearer confirmation) may be used after it is issued. */
  assertionSeconds: seconds(300, 30),
  /** Federation aggregates whose SPs are registered and kept up to date (added, changed, removed) on a schedule. */
  aggregates: z.array(aggregateSchema).default([]),
  /** Largest AuthnRequest we read (after inflating a Redirect message). */
  maxRequestBytes: z.coerce.number().int().min(4096).max(1 << 20).default(64 * 1024),
});

export type SamlConfig = z.infer<typeof samlConfigSchema>;
export type AggregateConfig = z.infer<typeof aggregateSchema>;
