import { X509Certificate } from 'node:crypto';
import type { CommissionView, PersonView, ServiceIdentityView } from '../../directory/index.ts';
import type { LoginRecord } from '../session/index.ts';

/**
 * The healthcare claim set (domain.md §9) and the scopes that carry it. A
 * claim can also be asked for alone with the `claims` parameter; either way a
 * client receives only the claims registered for it.
 */
export const SCOPES = {
  profile: ['name', 'given_name', 'family_name'],
  personalIdentityNumber: ['personalIdentityNumber'],
  employee: ['employeeHsaId', 'allEmployeeHsaIds', 'organizationIdentifier', 'organizationName', 'title', 'paTitleCode', 'mail', 'telephoneNumber', 'mobileTelephoneNumber'],
  commission: [
    'commissionHsaId',
    'commissionName',
    'commissionPurpose',
    'commissionRight',
    'healthCareProviderHsaId',
    'healthCareProviderName',
    'healthCareUnitHsaId',
    'healthCareUnitName',
    'allCommissions',
  ],
  licences: ['healthcareProfessionalLicense', 'healthCareProfessionalLicenceSpeciality', 'groupPrescriptionCode', 'personalPrescriptionCode'],
  credential: ['credentialGivenName', 'credentialSurname', 'credentialPersonalIdentityNumber', 'x509SubjectName', 'x509IssuerName'],
} as const satisfies Record<string, readonly string[]>;

export const CLAIM_NAMES: ReadonlySet<string> = new Set(Object.values(SCOPES).flat());
export const DEFAULT_ALLOWED_CLAIMS = ['name', 'given_name', 'family_name', 'personalIdentityNumber', 'employeeHsaId'] as const;

/** Claims that name one commission: asking for any of them means the person picks one. */
const COMMISSION_CLAIMS: ReadonlySet<string> = new Set(['commissionHsaId', 'commissionName', 'commissionPurpose', 'commissionRight', 'healthCareProviderHsaId', 'healthCareProviderName', 'healthCareUnitHsaId', 'healthCareUnitName']);
/** Claims that name one service identity. */
const SERVICE_IDENTITY_CLAIMS: ReadonlySet<string> = new Set(['employeeHsaId', 'organizationIdentifier', 'organizationName', 'title', 'paTitleCode', 'mail', 'telephoneNumber', 'mobileTelephoneNumber']);

/** The claims a request asks for (scopes and the `claims` parameter), cut to those the client may receive. */
export function grantedClaims(scope: string, claimsParameter: RequestedClaims, allowed: ReadonlySet<string>): Set<string> {
  const asked = new Set<string>();
  for (const name of scope.split(' ')) for (const claim of (SCOPES as Record<string, readonly string[]>)[name] ?? []) asked.add(claim);
  for (const part of [claimsParameter.id_token, claimsParameter.userinfo]) for (const claim of Object.keys(part ?? {})) asked.add(claim);
  return new Set([...asked].filter((claim) => allowed.has(claim)));
}

export interface ClaimRequest {
  readonly essential?: boolean;
  readonly value?: unknown;
  readonly values?: readonly unknown[];
}
export interface RequestedClaims {
  readonly id_token?: Record<string, ClaimRequest | null>;
  readonly userinfo?: Record<string, ClaimRequest | null>;
}

export class ClaimsParameterError extends Error {
  override readonly name = 'ClaimsParameterError';
}

/** The `claims` parameter as an object; oidc-provider has already refused one that is not JSON. */
export function parseClaimsParameter(raw: unknown): RequestedClaims {
  if (raw === undefined || raw === null || raw === '') return {};
  const parsed: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw;
  if (typeof parsed !== 'object' || parsed === null) throw new ClaimsParameterError('the claims parameter must be a JSON object');
  return parsed as RequestedClaims;
}

/** Values a client pinned a claim to (`value` or `values`), from either part of the `claims` parameter. */
export function pinnedValues(claims: RequestedClaims, name: string): Set<string> | undefined {
  const pins = new Set<string>();
  let pinned = false;
  for (const part of [claims.id_token, claims.userinfo]) {
    const request = part?.[name];
    if (!request) continue;
    if (request.value !== undefined) {
      pinned = true;
      pins.add(String(request.value));
    }
    if (Array.isArray(request.values)) {
      pinned = true;
      for (const value of request.values) pins.add(String(value));
    }
  }
  return pinned ? pins : undefined;
}

export type Choice = { readonly kind: 'none' } | { readonly kind: 'serviceIdentity'; readonly hsaId: string } | { readonly kind: 'commission'; readonly hsaId: string };

/** What the person must pick, among which candidates; or that the request cannot be met by this person. */
export type ChoiceNeed =
  | { readonly ask: 'nothing'; readonly choice: Choice }
  | { readonly ask: 'serviceIdentity'; readonly candidates: readonly ServiceIdentityView[] }
  | { readonly ask: 'commission'; readonly candidates: readonly (CommissionView & { readonly serviceIdentityHsaId: string })[] }
  | { readonly ask: 'impossible'; readonly reason: string };

/**
 * Asks only what the granted claims need (domain.md §8): a commission if a
 * commission claim is granted, a service identity if a service-identity claim
 * is, nothing otherwise. Values the client pinned filter the candidates; if
 * none is left the login must fail rather than release another identity.
 */
export function choiceNeeded(person: PersonView | null, granted: ReadonlySet<string>, claims: RequestedClaims): ChoiceNeed {
  const pin = (name: string) => pinnedValues(claims, name);
  const pinnedPerson = pin('personalIdentityNumber');
  if (pinnedPerson && (!person || !pinnedPerson.has(person.personnummer))) return { ask: 'impossible', reason: 'the person who logged in is not the one the service asked for' };
  const wantsCommission = [...granted].some((c) => COMMISSION_CLAIMS.has(c));
  const wantsServiceIdentity = [...granted].some((c) => SERVICE_IDENTITY_CLAIMS.has(c));
  const identities = (person?.serviceIdentities ?? []).filter((s) => matches(pin('employeeHsaId'), s.hsaId) && matches(pin('organizationIdentifier'), s.organisation.organisationNumber));
  const anyPin = ['employeeHsaId', 'organizationIdentifier', 'commissionHsaId', 'healthCareProviderHsaId', 'healthCareUnitHsaId'].some((name) => pin(name));
  if (wantsCommission) {
    const candidates = identities.flatMap((s) =>
      s.commissions
        .filter((c) => matches(pin('commissionHsaId'), c.hsaId) && matches(pin('healthCareProviderHsaId'), c.careProvider.hsaId) && matches(pin('healthCareUnitHsaId'), c.careUnit.hsaId))
        .map((c) => ({ ...c, serviceIdentityHsaId: s.hsaId })),
    );
    if (candidates.length === 1) return { ask: 'nothing', choice: { kind: 'commission', hsaId: candidates[0]!.hsaId } };
    if (candidates.length > 1) return { ask: 'commission', candidates };
    return anyPin ? { ask: 'impossible', reason: 'the person holds no commission the service asked for' } : { ask: 'nothing', choice: { kind: 'none' } };
  }
  if (wantsServiceIdentity || anyPin) {
    if (identities.length === 1) return { ask: 'nothing', choice: { kind: 'serviceIdentity', hsaId: identities[0]!.hsaId } };
    if (identities.length > 1) return wantsServiceIdentity ? { ask: 'serviceIdentity', candidates: identities } : { ask: 'nothing', choice: { kind: 'none' } };
    return anyPin ? { ask: 'impossible', reason: 'the person holds no service identity the service asked for' } : { ask: 'nothing', choice: { kind: 'none' } };
  }
  return { ask: 'nothing', choice: { kind: 'none' } };
}

const matches = (pins: Set<string> | undefined, value: string) => !pins || pins.has(value);

/** Whether a request could need a choice at all: then every login to it shows the login pages. */
export function mayNeedChoice(granted: ReadonlySet<string>): boolean {
  return [...granted].some((c) => COMMISSION_CLAIMS.has(c) || SERVICE_IDENTITY_CLAIMS.has(c));
}

type ClaimValue = string | readonly string[] | readonly Record<string, unknown>[];

/** Every claim this login can support, from the authentication, the certificate and the directory; then cut to `granted`. */
export function buildClaims(login: LoginRecord, person: PersonView | null, choice: Choice, granted: ReadonlySet<string>): Record<string, ClaimValue> {
  const all: Record<string, ClaimValue | null | undefined> = {};
  const givenName = person?.givenName ?? login.subject.givenName;
  const surname = person?.surname ?? login.subject.surname;
  all['given_name'] = givenName;
  all['family_name'] = surname;
  all['name'] = person?.displayName ?? login.subject.name ?? ([givenName, surname].filter(Boolean).join(' ') || undefined);
  all['personalIdentityNumber'] = person?.personnummer ?? login.subject.personalIdentityNumber;
  const identities = person?.serviceIdentities ?? [];
  all['allEmployeeHsaIds'] = identities.map((s) => s.hsaId);
  all['allCommissions'] = identities.flatMap((s) => s.commissions.map((c) => commissionSummary(s, c)));
  const identity =
    choice.kind === 'serviceIdentity'
      ? identities.find((s) => s.hsaId === choice.hsaId)
      : choice.kind === 'commission'
        ? identities.find((s) => s.commissions.some((c) => c.hsaId === choice.hsaId))
        : undefined;
  if (identity) Object.assign(all, serviceIdentityClaims(identity));
  const commission = choice.kind === 'commission' ? identity?.commissions.find((c) => c.hsaId === choice.hsaId) : undefined;
  if (commission) Object.assign(all, commissionClaims(commission));
  if (person) {
    all['healthcareProfessionalLicense'] = person.licences;
    all['healthCareProfessionalLicenceSpeciality'] = person.licenceSpecialities;
    all['groupPrescriptionCode'] = person.groupPrescriptionCodes;
    all['personalPrescriptionCode'] = person.personalPrescriptionCode;
  }
  Object.assign(all, certificateClaims(login));
  const released: Record<string, ClaimValue> = {};
  for (const [name, value] of Object.entries(all)) {
    if (granted.has(name) && value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)) released[name] = value;
  }
  return released;
}

function serviceIdentityClaims(s: ServiceIdentityView): Record<string, string | null> {
  return {
    employeeHsaId: s.hsaId,
    organizationIdentifier: s.organisation.organisationNumber,
    organizationName: s.organisation.name,
    title: s.titleCode,
    paTitleCode: s.titleCode,
    mail: s.mail,
    telephoneNumber: s.telephone,
    mobileTelephoneNumber: s.mobile,
  };
}

function commissionClaims(c: CommissionView): Record<string, ClaimValue> {
  return {
    commissionHsaId: c.hsaId,
    commissionName: c.name,
    commissionPurpose: c.purpose,
    commissionRight: c.rights.map((r) => `${r.activity};${r.informationType};${r.scope}`),
    healthCareProviderHsaId: c.careProvider.hsaId,
    healthCareProviderName: c.careProvider.name,
    healthCareUnitHsaId: c.careUnit.hsaId,
    healthCareUnitName: c.careUnit.name,
  };
}

function commissionSummary(s: ServiceIdentityView, c: CommissionView): Record<string, unknown> {
  return { employeeHsaId: s.hsaId, ...commissionClaims(c) };
}

/** A login certificate's subject and issuer, parsed once per certificate: every login of an SSO session carries the same one. */
const parsedCertificates = new Map<string, { readonly subject: string; readonly issuer: string } | null>();

function readCertificate(pem: string): { readonly subject: string; readonly issuer: string } | null {
  let parsed = parsedCertificates.get(pem);
  if (parsed === undefined) {
    try {
      const certificate = new X509Certificate(pem);
      parsed = { subject: certificate.subject, issuer: certificate.issuer };
    } catch {
      // A certificate we cannot parse (test stand-ins) yields the authentication's names only.
      parsed = null;
    }
    if (parsedCertificates.size >= 1000) parsedCertificates.clear();
    parsedCertificates.set(pem, parsed);
  }
  return parsed;
}

function certificateClaims(login: LoginRecord): Record<string, string | undefined> {
  const certificate = readCertificate(login.certificatePem);
  const subject = certificate ? subjectFields(certificate.subject) : new Map<string, string>();
  const serialNumber = subject.get('serialNumber');
  return {
    credentialGivenName: subject.get('GN') ?? login.subject.givenName,
    credentialSurname: subject.get('SN') ?? login.subject.surname,
    credentialPersonalIdentityNumber: serialNumber && /^\d{12}$/.test(serialNumber) ? serialNumber : login.subject.personalIdentityNumber,
    x509SubjectName: certificate?.subject.replaceAll('\n', ', '),
    x509IssuerName: certificate?.issuer.replaceAll('\n', ', '),
  };
}

/** Node prints a subject one `key=value` per line (GN, SN, serialNumber, CN, ...). */
function subjectFields(subject: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of subject.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0 && !fields.has(line.slice(0, at))) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}
