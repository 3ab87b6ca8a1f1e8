import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { CaId } from './hierarchy.ts';

/** What a certificate is for; each name fixes every field the profile controls. */
export const PROFILE_NAMES = [
  'person-auth-hsa-loa3',
  'person-sign-hsa-loa3',
  'person-auth-pnr-loa3',
  'person-sign-pnr-loa3',
  'person-auth-hsa-loa2',
  'person-sign-hsa-loa2',
  'person-auth-pnr-loa2',
  'person-sign-pnr-loa2',
  'mobile',
  'function-server',
  'function-client',
  'function-email',
  'test',
  'ocsp-signer',
  'server-tls',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export type SubjectField = 'commonName' | 'givenName' | 'surname' | 'serialNumber' | 'organization' | 'country';
export type IdentifierRule = 'personnummer' | 'hsaId' | 'any' | 'none';

/** Policy OIDs below the configured arc: LoA 3 persons, LoA 2 persons, mobile eIDs (LoA 3), function, test. */
export const POLICY_SUFFIX = { personLoa3: '1.3', personLoa2: '1.2', mobileLoa3: '1.4', function: '2.1', test: '9.1' } as const;

export interface Profile {
  readonly name: ProfileName;
  readonly ca: CaId;
  readonly keyUsage: x509.KeyUsageFlags;
  readonly extendedKeyUsage: readonly string[];
  readonly policy?: keyof typeof POLICY_SUFFIX;
  readonly validityDays: number;
  /** Subject attributes that must be present, and those that may be. */
  readonly requiredSubject: readonly SubjectField[];
  readonly optionalSubject: readonly SubjectField[];
  /** What the subject serialNumber must be. */
  readonly identifier: IdentifierRule;
  readonly san: { readonly dns: 'required' | 'optional' | 'forbidden'; readonly email: 'required' | 'optional' | 'forbidden'; readonly ip: 'optional' | 'forbidden' };
  /** id-pkix-ocsp-nocheck: relying parties do not check the responder's own revocation. */
  readonly ocspNoCheck?: boolean;
}

const KU = x509.KeyUsageFlags;
const EKU = x509.ExtendedKeyUsage;
const personSubject = { requiredSubject: ['commonName', 'givenName', 'surname', 'serialNumber'], optionalSubject: ['organization', 'country'] } as const;
const noSan = { dns: 'forbidden', email: 'forbidden', ip: 'forbidden' } as const;
/** Card certificates follow the card: five years, as SITHS cards. */
const CARD_DAYS = 5 * 365;

function person(name: ProfileName, ca: CaId, use: 'auth' | 'sign', identifier: 'hsaId' | 'personnummer', policy: 'personLoa3' | 'personLoa2'): Profile {
  return {
    name,
    ca,
    keyUsage: use === 'auth' ? KU.digitalSignature : KU.nonRepudiation,
    // Card login is TLS client authentication; signatures need no extended key usage.
    extendedKeyUsage: use === 'auth' ? [EKU.clientAuth] : [],
    policy,
    validityDays: CARD_DAYS,
    ...personSubject,
    identifier,
    san: noSan,
  };
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  'person-auth-hsa-loa3': person('person-auth-hsa-loa3', 'person-hsa-loa3', 'auth', 'hsaId', 'personLoa3'),
  'person-sign-hsa-loa3': person('person-sign-hsa-loa3', 'person-hsa-loa3', 'sign', 'hsaId', 'personLoa3'),
  'person-auth-pnr-loa3': person('person-auth-pnr-loa3', 'person-pnr-loa3', 'auth', 'personnummer', 'personLoa3'),
  'person-sign-pnr-loa3': person('person-sign-pnr-loa3', 'person-pnr-loa3', 'sign', 'personnummer', 'personLoa3'),
  'person-auth-hsa-loa2': person('person-auth-hsa-loa2', 'person-hsa-loa2', 'auth', 'hsaId', 'personLoa2'),
  'person-sign-hsa-loa2': person('person-sign-hsa-loa2', 'person-hsa-loa2', 'sign', 'hsaId', 'personLoa2'),
  'person-auth-pnr-loa2': person('person-auth-pnr-loa2', 'person-pnr-loa2', 'auth', 'personnummer', 'personLoa2'),
  'person-sign-pnr-loa2': person('person-sign-pnr-loa2', 'person-pnr-loa2', 'sign', 'personnummer', 'personLoa2'),
  mobile: {
    name: 'mobile',
    ca: 'mobile',
    // One key in the phone both logs in and signs.
    keyUsage: KU.digitalSignature | KU.nonRepudiation,
    extendedKeyUsage: [EKU.clientAuth],
    policy: 'mobileLoa3',
    validityDays: 2 * 365,
    ...personSubject,
    identifier: 'personnummer',
    san: noSan,
  },
  'function-server': {
    name: 'function-server',
    ca: 'function',
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extendedKeyUsage: [EKU.serverAuth],
    policy: 'function',
    // Browsers refuse TLS server certificates valid for more than 398 days.
    validityDays: 397,
    requiredSubject: ['commonName', 'serialNumber'],
    optionalSubject: ['organization', 'country'],
    identifier: 'hsaId',
    san: { dns: 'required', email: 'forbidden', ip: 'optional' },
  },
  'function-client': {
    name: 'function-client',
    ca: 'function',
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extendedKeyUsage: [EKU.clientAuth],
    policy: 'function',
    validityDays: 2 * 365,
    requiredSubject: ['commonName', 'serialNumber'],
    optionalSubject: ['organization', 'country'],
    identifier: 'hsaId',
    san: { dns: 'optional', email: 'forbidden', ip: 'forbidden' },
  },
  'function-email': {
    name: 'function-email',
    ca: 'function',
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extendedKeyUsage: [EKU.emailProtection],
    policy: 'function',
    validityDays: 2 * 365,
    requiredSubject: ['commonName', 'serialNumber'],
    optionalSubject: ['organization', 'country'],
    identifier: 'hsaId',
    san: { dns: 'forbidden', email: 'required', ip: 'forbidden' },
  },
  test: {
    name: 'test',
    ca: 'test',
    keyUsage: KU.digitalSignature | KU.nonRepudiation,
    extendedKeyUsage: [EKU.clientAuth],
    policy: 'test',
    validityDays: 365,
    requiredSubject: ['commonName', 'serialNumber'],
    optionalSubject: ['givenName', 'surname', 'organization', 'country'],
    identifier: 'any',
    san: noSan,
  },
  'ocsp-signer': {
    name: 'ocsp-signer',
    // Issued by each CA to its own responder; `ca` here is only the default.
    ca: 'root',
    keyUsage: KU.digitalSignature,
    extendedKeyUsage: [EKU.ocspSigning],
    validityDays: 90,
    requiredSubject: ['commonName'],
    optionalSubject: ['organization', 'country'],
    identifier: 'none',
    san: noSan,
    ocspNoCheck: true,
  },
  'server-tls': {
    name: 'server-tls',
    ca: 'function',
    keyUsage: KU.digitalSignature | KU.keyEncipherment,
    extendedKeyUsage: [EKU.serverAuth],
    policy: 'function',
    validityDays: 397,
    requiredSubject: ['commonName'],
    optionalSubject: ['organization', 'country'],
    identifier: 'none',
    san: { dns: 'required', email: 'forbidden', ip: 'optional' },
  },
};

export function isProfileName(value: string): value is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(value);
}
