/**
 * The directory's records as the rest of the system sees them (domain.md §2).
 * Identifiers are strings in their canonical form: personnummer 12 digits,
 * organisation number 10 digits, HSA-ids exactly as issued.
 */

export interface Organisation {
  readonly hsaId: string;
  readonly organisationNumber: string;
  readonly name: string;
  /** A vårdgivare: may be named as the care provider of commissions. */
  readonly careProvider: boolean;
}

export interface Unit {
  readonly hsaId: string;
  readonly organisationHsaId: string;
  /** Null when the unit sits directly below its organisation. */
  readonly parentUnitHsaId: string | null;
  readonly name: string;
  /** A vårdenhet: may be named as the care unit of commissions. */
  readonly careUnit: boolean;
}

/** Facts about a physical person; names, protection and death come from the population register when it has answered. */
export interface Person {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly displayName: string | null;
  readonly protectedIdentity: boolean;
  readonly deceased: boolean;
  readonly newPersonnummer: string | null;
  readonly licences: readonly string[];
  readonly licenceSpecialities: readonly string[];
  readonly groupPrescriptionCodes: readonly string[];
  readonly personalPrescriptionCode: string | null;
  readonly missingFromCatalogueSince: Date | null;
  readonly missingFromRegisterSince: Date | null;
}

/** A tjänste-id: the person as employed by one organisation. Contact facts belong to the employment. */
export interface ServiceIdentity {
  readonly hsaId: string;
  readonly personnummer: string;
  readonly organisationHsaId: string;
  readonly unitHsaId: string | null;
  readonly titleCode: string | null;
  readonly mail: string | null;
  readonly telephone: string | null;
  readonly mobile: string | null;
}

export interface CommissionRight {
  readonly activity: string;
  readonly informationType: string;
  readonly scope: string;
}

/** A medarbetaruppdrag: what a service identity may do, for which care provider, at which care unit. */
export interface Commission {
  readonly hsaId: string;
  readonly serviceIdentityHsaId: string;
  readonly name: string;
  readonly purpose: string;
  readonly rights: readonly CommissionRight[];
  readonly careProviderHsaId: string;
  readonly careUnitHsaId: string;
}

export const FUNCTION_OBJECT_KINDS = ['server', 'system', 'mailbox'] as const;
export type FunctionObjectKind = (typeof FUNCTION_OBJECT_KINDS)[number];

/** A server, system or mailbox in an organisation's service tree; owns function certificates. */
export interface FunctionObject {
  readonly hsaId: string;
  readonly organisationHsaId: string;
  readonly unitHsaId: string | null;
  readonly name: string;
  readonly kind: FunctionObjectKind;
  readonly dnsNames: readonly string[];
  readonly mail: string | null;
}

/** What a caller may see: protected-identity persons stay hidden without the right. */
export interface Viewer {
  readonly mayViewProtectedIdentities: boolean;
}

export const PUBLIC_VIEWER: Viewer = { mayViewProtectedIdentities: false };
