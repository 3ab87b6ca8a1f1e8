import { findOrganisation } from '../../directory/index.ts';
import type { Queryable } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import { authorize, placeTarget, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import type { FunctionContext } from './context.ts';

/** How a validation specialist established that the organisation controls a domain. */
export const VALIDATION_METHODS = ['dns-txt', 'http-token', 'registrant-email', 'registry-document'] as const;
export type ValidationMethod = (typeof VALIDATION_METHODS)[number];

/** A validation is reused at most this long (the CA/Browser Forum's limit for domain validation reuse). */
export const MAX_VALIDATION_DAYS = 398;
const DAY_MS = 86_400_000;
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

export interface DomainValidation {
  readonly id: number;
  readonly organisation: string;
  readonly domain: string;
  readonly method: ValidationMethod;
  readonly evidence: string;
  readonly validatedBy: string;
  readonly validatedAt: Date;
  readonly validUntil: Date;
}

export interface DomainClaim {
  readonly organisation: string;
  readonly domain: string;
  readonly method: ValidationMethod;
  /** What was checked (the TXT value, the URL, the document's reference). */
  readonly evidence: string;
  readonly validUntil: Date;
}

/** Whether `name` is the domain itself or a name below it (never a look-alike such as `evilexample.se`). */
export function isInsideDomain(name: string, domain: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const d = domain.toLowerCase().replace(/\.$/, '');
  return n === d || n.endsWith(`.${d}`);
}

/** Why a name is not covered now: no validated domain holds it, or the one that did has expired. Null when covered. */
export function uncoveredReason(name: string, validations: readonly DomainValidation[], now: Date): string | null {
  const holding = validations.filter((v) => isInsideDomain(name, v.domain));
  if (holding.some((v) => v.validUntil.getTime() > now.getTime())) return null;
  const latest = holding.sort((a, b) => b.validUntil.getTime() - a.validUntil.getTime())[0];
  return latest
    ? `${name}: the validation of ${latest.domain} expired ${latest.validUntil.toISOString()}`
    : `${name} is outside every validated domain of the organisation`;
}

interface ValidationRow {
  id: number;
  organisation_hsa_id: string;
  domain: string;
  method: ValidationMethod;
  evidence: string;
  validated_by: string;
  validated_at: Date;
  valid_until: Date;
}

const fromRow = (r: ValidationRow): DomainValidation => ({
  id: r.id,
  organisation: r.organisation_hsa_id,
  domain: r.domain,
  method: r.method,
  evidence: r.evidence,
  validatedBy: r.validated_by,
  validatedAt: r.validated_at,
  validUntil: r.valid_until,
});

/** The organisation's validations not withdrawn, expired ones included (they explain a refusal). */
export async function validationsOf(db: Queryable, organisation: string): Promise<DomainValidation[]> {
  const rows = await db.query<ValidationRow>(
    'select id, organisation_hsa_id, domain, method, evidence, validated_by, validated_at, valid_until from portal_domain_validation where organisation_hsa_id = $1 and withdrawn_at is null order by domain, id',
    [organisation],
  );
  return rows.map(fromRow);
}

/** A validation specialist records a domain the organisation controls: how it was validated, by whom and until when. */
export async function validateDomain(context: FunctionContext, by: Principal, claim: DomainClaim): Promise<DomainValidation> {
  const now = context.now();
  const domain = claim.domain.trim().toLowerCase().replace(/\.$/, '');
  if (!DOMAIN.test(domain)) throw new PortalRefused('invalid', `${JSON.stringify(claim.domain)} is not a domain name (letters, digits and hyphens, at least two labels, no wildcard)`);
  if (!VALIDATION_METHODS.includes(claim.method)) throw new PortalRefused('invalid', `the method must be one of ${VALIDATION_METHODS.join(', ')}`);
  const evidence = claim.evidence.trim();
  if (!evidence || evidence.length > 500) throw new PortalRefused('invalid', 'say what was checked (the evidence, at most 500 characters)');
  const until = claim.validUntil.getTime();
  if (Number.isNaN(until) || until <= now.getTime()) throw new PortalRefused('invalid', 'the validation must be valid until a time in the future');
  if (until > now.getTime() + MAX_VALIDATION_DAYS * DAY_MS) throw new PortalRefused('invalid', `a domain validation may be reused at most ${MAX_VALIDATION_DAYS} days`);
  const recorded = authorize(by, 'domain.validate', await placeTarget(context.db, claim.organisation, null));
  return context.db.transaction(async (tx) => {
    const [row] = await tx.query<ValidationRow>(
      `insert into portal_domain_validation (organisation_hsa_id, domain, method, evidence, validated_by, validated_at, valid_until) values ($1, $2, $3, $4, $5, $6, $7)
       returning id, organisation_hsa_id, domain, method, evidence, validated_by, validated_at, valid_until`,
      [claim.organisation, domain, claim.method, evidence, recorded.actor, now, claim.validUntil],
    );
    const validation = fromRow(row!);
    await appendAudit(tx, { ...recorded, action: 'domain.validate', target: `domain:${domain}`, before: null, after: validation }, now);
    return validation;
  });
}

/** Withdraws a validation (the organisation no longer controls the domain); certificates under it then show as failing. */
export async function withdrawValidation(context: FunctionContext, by: Principal, id: number): Promise<void> {
  const now = context.now();
  const [row] = await context.db.query<ValidationRow>(
    'select id, organisation_hsa_id, domain, method, evidence, validated_by, validated_at, valid_until from portal_domain_validation where id = $1 and withdrawn_at is null',
    [id],
  );
  if (!row) throw new PortalRefused('not-found', `no current domain validation ${id}`);
  const recorded = authorize(by, 'domain.validate', await placeTarget(context.db, row.organisation_hsa_id, null));
  await context.db.transaction(async (tx) => {
    const changed = await tx.query('update portal_domain_validation set withdrawn_by = $2, withdrawn_at = $3 where id = $1 and withdrawn_at is null returning id', [id, recorded.actor, now]);
    if (changed.length === 0) throw new PortalRefused('conflict', `domain validation ${id} was withdrawn meanwhile`);
    await appendAudit(tx, { ...recorded, action: 'domain.withdraw', target: `domain:${row.domain}`, before: fromRow(row), after: null }, now);
  });
}

export interface FailingFunctionObject {
  readonly functionObject: string;
  readonly name: string;
  /** The certificate concerned; null when the directory's own DNS names fail. */
  readonly serial: string | null;
  readonly reasons: readonly string[];
}

/**
 * Function objects whose names fail validation now: the DNS names in the
 * directory and in every certificate still good, each checked against the
 * organisation's current validations. For the validation specialist.
 */
export async function failingFunctionObjects(context: FunctionContext, by: Principal, organisation: string): Promise<FailingFunctionObject[]> {
  authorize(by, 'domain.validate', await placeTarget(context.db, organisation, null));
  const now = context.now();
  const validations = await validationsOf(context.db, organisation);
  const objects = (await findOrganisation(context.db, organisation))?.functionObjects ?? [];
  const certificates = await context.db.query<{ serial: string; function_object_hsa_id: string; dns_names: string[] }>(
    'select serial, function_object_hsa_id, dns_names from portal_function_certificate where organisation_hsa_id = $1 and revoked_at is null and not_after > $2 order by ordered_at, serial',
    [organisation, now],
  );
  const failing: FailingFunctionObject[] = [];
  const check = (names: readonly string[]) => names.map((n) => uncoveredReason(n, validations, now)).filter((r): r is string => r !== null);
  for (const object of objects) {
    const own = check(object.dnsNames);
    if (own.length) failing.push({ functionObject: object.hsaId, name: object.name, serial: null, reasons: own });
    for (const certificate of certificates.filter((c) => c.function_object_hsa_id === object.hsaId)) {
      const reasons = check(certificate.dns_names);
      if (reasons.length) failing.push({ functionObject: object.hsaId, name: object.name, serial: certificate.serial, reasons });
    }
  }
  return failing;
}
