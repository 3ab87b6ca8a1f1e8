import { z } from 'zod';
import { flag, httpUrl, secret } from '../config/fields.ts';

const ms = (fallback: number) => z.coerce.number().int().min(1).default(fallback);

/** Catalogue attribute names; every one can be renamed for a catalogue that spells them differently. */
const attributesSchema = z
  .strictObject({
    hsaId: z.string().min(1).default('hsaIdentity'),
    personnummer: z.string().min(1).default('personalIdentityNumber'),
    organisationNumber: z.string().min(1).default('orgNo'),
    organisationName: z.string().min(1).default('o'),
    unitName: z.string().min(1).default('ou'),
    careProvider: z.string().min(1).default('hsaHealthCareProvider'),
    careUnit: z.string().min(1).default('hsaHealthCareUnit'),
    givenName: z.string().min(1).default('givenName'),
    surname: z.string().min(1).default('sn'),
    displayName: z.string().min(1).default('displayName'),
    titleCode: z.string().min(1).default('paTitleCode'),
    mail: z.string().min(1).default('mail'),
    telephone: z.string().min(1).default('telephoneNumber'),
    mobile: z.string().min(1).default('mobile'),
    licences: z.string().min(1).default('hsaHealthCareProfessionalLicence'),
    licenceSpecialities: z.string().min(1).default('hsaHealthCareProfessionalLicenceSpeciality'),
    groupPrescriptionCodes: z.string().min(1).default('hsaGroupPrescriptionCode'),
    personalPrescriptionCode: z.string().min(1).default('personalPrescriptionCode'),
    commissionName: z.string().min(1).default('cn'),
    commissionPurpose: z.string().min(1).default('hsaCommissionPurpose'),
    commissionRight: z.string().min(1).default('hsaCommissionRight'),
    commissionMember: z.string().min(1).default('hsaCommissionMember'),
    careProviderHsaId: z.string().min(1).default('hsaHealthCareProviderHsaId'),
    careUnitHsaId: z.string().min(1).default('hsaHealthCareUnitHsaId'),
    functionName: z.string().min(1).default('cn'),
    functionKind: z.string().min(1).default('hsaFunctionKind'),
    dnsNames: z.string().min(1).default('hsaDnsName'),
    modifyTimestamp: z.string().min(1).default('modifyTimestamp'),
  })
  .prefault({});

/** Which entries are which kind, as LDAP filters. */
const filtersSchema = z
  .strictObject({
    organisation: z.string().min(3).default('(objectClass=hsaOrganizationExtension)'),
    unit: z.string().min(3).default('(objectClass=hsaUnitExtension)'),
    employee: z.string().min(3).default('(objectClass=hsaPersonExtension)'),
    commission: z.string().min(3).default('(objectClass=hsaCommission)'),
    functionObject: z.string().min(3).default('(objectClass=hsaFunction)'),
  })
  .prefault({});

export const ldapConfigSchema = z
  .strictObject({
    /** ldap:// or ldaps://; unset: the catalogue sync is off. */
    url: z.string().regex(/^ldaps?:\/\/[^/]+\/?$/, 'expected ldap://host:port or ldaps://host:port').optional(),
    /** Upgrade an ldap:// connection with StartTLS before binding. */
    startTls: flag.default(false),
    /** PEM file of the CA that signed the catalogue's certificate (LDAPS and StartTLS); the system's CAs otherwise. */
    caFile: z.string().min(1).optional(),
    bindDn: z.string().default(''),
    bindPassword: secret(z.string().optional()),
    baseDn: z.string().min(1).default('c=SE'),
    pageSize: z.coerce.number().int().min(1).max(10_000).default(1_000),
    connectTimeoutMs: ms(10_000),
    /** Per operation (one page of a search). */
    timeoutMs: ms(60_000),
    filters: filtersSchema,
    attributes: attributesSchema,
  })
  .refine((ldap) => !(ldap.startTls && ldap.url?.startsWith('ldaps://')), 'startTls is for ldap:// URLs; an ldaps:// connection is already TLS')
  .prefault({});

export const registerConfigSchema = z
  .strictObject({
    /** Base URL of the population register's JSON service; unset: only extract files are used. */
    url: httpUrl.optional(),
    apiKey: secret(z.string().optional()),
    timeoutMs: ms(5_000),
    retries: z.coerce.number().int().min(0).max(10).default(2),
    retryDelayMs: z.coerce.number().int().min(0).default(200),
    concurrency: z.coerce.number().int().min(1).max(64).default(8),
  })
  .prefault({});

export const directoryConfigSchema = z.strictObject({
  ldap: ldapConfigSchema,
  register: registerConfigSchema,
  demo: z
    .strictObject({
      persons: z.coerce.number().int().min(1).max(10_000).default(50),
      seed: z.string().min(1).default('tillit-demo'),
    })
    .prefault({}),
});

export type DirectoryConfig = z.infer<typeof directoryConfigSchema>;
export type LdapConfig = z.infer<typeof ldapConfigSchema>;
export type LdapAttributeMapping = LdapConfig['attributes'];
export type RegisterConfig = z.infer<typeof registerConfigSchema>;
