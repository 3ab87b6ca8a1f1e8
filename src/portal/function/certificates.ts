import { IssuanceRefused, readCsr, type IssuedCertificate, type RevocationReason } from '../../pki/index.ts';
import type { Queryable } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import type { Principal, Recorded } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import type { FunctionContext } from './context.ts';
import { uncoveredReason, validationsOf } from './domains.ts';
import { authorizeOrdering } from './orderers.ts';
import { certsOnlyPkcs7, pemBlocks } from './pkcs7.ts';

export const FUNCTION_PROFILES = ['function-server', 'function-client', 'function-email'] as const;
export type FunctionProfile = (typeof FUNCTION_PROFILES)[number];

/** Why an orderer revokes a function certificate (RFC 5280 reasons that make sense for a server or system). */
export const FUNCTION_REVOCATION_REASONS = ['keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'unspecified'] as const satisfies readonly RevocationReason[];
export type FunctionRevocationReason = (typeof FUNCTION_REVOCATION_REASONS)[number];

/** A renewed certificate's predecessor is revoked when the new one is first downloaded, or after this long at the latest. */
export const SUPERSEDE_GRACE_DAYS = 14;
const DAY_MS = 86_400_000;

export interface FunctionCertificate {
  readonly serial: string;
  readonly functionObject: string;
  readonly organisation: string;
  readonly profile: FunctionProfile;
  readonly dnsNames: readonly string[];
  readonly notAfter: Date;
  readonly orderedBy: string;
  readonly orderedAt: Date;
  readonly fetchedAt: Date | null;
  readonly replaces: string | null;
  readonly supersedeAt: Date | null;
  readonly revokedAt: Date | null;
  readonly revocationReason: string | null;
}

interface Row {
  serial: string;
  function_object_hsa_id: string;
  organisation_hsa_id: string;
  profile: FunctionProfile;
  dns_names: string[];
  not_after: Date;
  ordered_by: string;
  ordered_at: Date;
  fetched_at: Date | null;
  replaces: string | null;
  supersede_at: Date | null;
  revoked_at: Date | null;
  revocation_reason: string | null;
}
const COLUMNS = 'serial, function_object_hsa_id, organisation_hsa_id, profile, dns_names, not_after, ordered_by, ordered_at, fetched_at, replaces, supersede_at, revoked_at, revocation_reason';
const fromRow = (r: Row): FunctionCertificate => ({
  serial: r.serial,
  functionObject: r.function_object_hsa_id,
  organisation: r.organisation_hsa_id,
  profile: r.profile,
  dnsNames: r.dns_names,
  notAfter: r.not_after,
  orderedBy: r.ordered_by,
  orderedAt: r.ordered_at,
  fetchedAt: r.fetched_at,
  replaces: r.replaces,
  supersedeAt: r.supersede_at,
  revokedAt: r.revoked_at,
  revocationReason: r.revocation_reason,
});

export interface FunctionOrder {
  readonly functionObject: string;
  readonly profile: FunctionProfile;
  readonly csrPem: string;
}

export async function loadFunctionCertificate(db: Queryable, serial: string, forUpdate = false): Promise<FunctionCertificate> {
  const [row] = await db.query<Row>(`select ${COLUMNS} from portal_function_certificate where serial = $1${forUpdate ? ' for update' : ''}`, [serial.toLowerCase()]);
  if (!row) throw new PortalRefused('not-found', `no function certificate with serial ${serial}`);
  return fromRow(row);
}

export async function certificatesOfObject(db: Queryable, functionObject: string): Promise<FunctionCertificate[]> {
  const rows = await db.query<Row>(`select ${COLUMNS} from portal_function_certificate where function_object_hsa_id = $1 order by ordered_at desc, serial`, [functionObject]);
  return rows.map(fromRow);
}

/**
 * The portal's checks on a CSR, after the PKI's own (signature, key type and
 * size, profile subject rules): the subject names this function object, and
 * every DNS name and e-mail domain lies inside a domain the organisation has
 * validated and that has not expired. The first rule broken is the reason.
 */
export async function checkFunctionCsr(db: Queryable, functionObject: { hsaId: string; organisationHsaId: string }, profile: FunctionProfile, csrPem: string, now: Date) {
  if (!FUNCTION_PROFILES.includes(profile)) throw new PortalRefused('invalid', `the profile must be one of ${FUNCTION_PROFILES.join(', ')}`);
  let request: Awaited<ReturnType<typeof readCsr>>;
  try {
    request = await readCsr(csrPem);
  } catch (error) {
    if (error instanceof IssuanceRefused) throw new PortalRefused('invalid', error.message);
    throw error;
  }
  const serialNumber = request.subject.serialNumber;
  if (serialNumber !== functionObject.hsaId) {
    throw new PortalRefused('invalid', serialNumber ? `the CSR's subject serialNumber ${serialNumber} is not this function object's HSA-id ${functionObject.hsaId}` : `the CSR's subject needs serialNumber=${functionObject.hsaId} (the function object's HSA-id)`);
  }
  const validations = await validationsOf(db, functionObject.organisationHsaId);
  const names = [...(request.subject.dnsNames ?? []), ...(request.subject.emails ?? []).map((e) => e.slice(e.lastIndexOf('@') + 1))];
  const reasons = names.map((n) => uncoveredReason(n, validations, now)).filter((r): r is string => r !== null);
  if (reasons.length) throw new PortalRefused('invalid', `the CSR names what the organisation has not validated: ${reasons.join('; ')}`);
  return request;
}

/** Issues through the PKI, then records it; a certificate that could not be recorded is revoked, never left good and unknown. */
async function issueAndRecord(context: FunctionContext, recorded: Recorded, order: FunctionOrder, organisation: string, dnsNames: readonly string[], replaces: FunctionCertificate | null): Promise<FunctionCertificate> {
  const now = context.now();
  let issued: IssuedCertificate;
  try {
    issued = await context.pki.issueFromCsr(order.profile, order.csrPem);
  } catch (error) {
    if (error instanceof IssuanceRefused) throw new PortalRefused('invalid', error.message);
    throw error;
  }
  try {
    return await context.db.transaction(async (tx) => {
      if (replaces) {
        const [current] = await tx.query('select 1 from portal_function_certificate where serial = $1 and revoked_at is null and not exists (select 1 from portal_function_certificate n where n.replaces = $1) for update', [replaces.serial]);
        if (!current) throw new PortalRefused('conflict', `certificate ${replaces.serial} was renewed or revoked meanwhile`);
      }
      const [row] = await tx.query<Row>(
        `insert into portal_function_certificate (serial, function_object_hsa_id, organisation_hsa_id, profile, certificate_pem, chain_pem, dns_names, not_after, ordered_by, ordered_at, replaces, supersede_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) returning ${COLUMNS}`,
        [issued.serial, order.functionObject, organisation, order.profile, pemBlocks(issued.certificatePem).join(''), issued.chainPem.flatMap(pemBlocks).join(''), dnsNames, issued.certificate.notAfter, recorded.actor, now, replaces?.serial ?? null, replaces ? new Date(now.getTime() + SUPERSEDE_GRACE_DAYS * DAY_MS) : null],
      );
      const certificate = fromRow(row!);
      await appendAudit(
        tx,
        { ...recorded, action: replaces ? 'function-certificate.renew' : 'function-certificate.order', target: `function-object:${order.functionObject}`, before: replaces, after: certificate },
        now,
      );
      return certificate;
    });
  } catch (error) {
    await context.pki.revoke({ serial: issued.serial, reason: 'cessationOfOperation', actor: recorded.actor });
    throw error;
  }
}

const dnsNamesOf = (request: Awaited<ReturnType<typeof readCsr>>) => (request.subject.dnsNames ?? []).map((d) => d.toLowerCase());

/** An authorised orderer orders a certificate for a function object from a CSR; refused with the reason and nothing issued when a check fails. */
export async function orderFunctionCertificate(context: FunctionContext, by: Principal, order: FunctionOrder): Promise<FunctionCertificate> {
  const { functionObject, recorded } = await authorizeOrdering(context.db, by, order.functionObject);
  const request = await checkFunctionCsr(context.db, functionObject, order.profile, order.csrPem, context.now());
  return issueAndRecord(context, recorded, order, functionObject.organisationHsaId, dnsNamesOf(request), null);
}

/** Renewal: a new CSR, the same object and profile; the old certificate is revoked (superseded) once the new one is fetched, or after the grace period. */
export async function renewFunctionCertificate(context: FunctionContext, by: Principal, serial: string, csrPem: string): Promise<FunctionCertificate> {
  const old = await loadFunctionCertificate(context.db, serial);
  const { functionObject, recorded } = await authorizeOrdering(context.db, by, old.functionObject);
  if (old.revokedAt) throw new PortalRefused('conflict', `certificate ${old.serial} is revoked; order a new one instead`);
  // Checked again when recording (two renewals at once); here so that the usual case issues nothing.
  const [successor] = await context.db.query<{ serial: string }>('select serial from portal_function_certificate where replaces = $1', [old.serial]);
  if (successor) throw new PortalRefused('conflict', `certificate ${old.serial} was already renewed (by ${successor.serial}); renew that one`);
  const request = await checkFunctionCsr(context.db, functionObject, old.profile, csrPem, context.now());
  return issueAndRecord(context, recorded, { functionObject: old.functionObject, profile: old.profile, csrPem }, functionObject.organisationHsaId, dnsNamesOf(request), old);
}

export type DownloadFormat = 'pem' | 'pkcs7';

/** The certificate with its chain (PEM, leaf first, root last) or as certs-only PKCS#7; the first download supersedes a renewal's predecessor. */
export async function downloadFunctionCertificate(context: FunctionContext, by: Principal, serial: string, format: DownloadFormat): Promise<{ certificate: FunctionCertificate; body: string | Uint8Array }> {
  const certificate = await loadFunctionCertificate(context.db, serial);
  const { recorded } = await authorizeOrdering(context.db, by, certificate.functionObject);
  const [row] = await context.db.query<{ certificate_pem: string; chain_pem: string }>('select certificate_pem, chain_pem from portal_function_certificate where serial = $1', [certificate.serial]);
  const pems = [...pemBlocks(row!.certificate_pem), ...pemBlocks(row!.chain_pem)];
  if (!certificate.fetchedAt) {
    const now = context.now();
    await context.db.query('update portal_function_certificate set fetched_at = $2 where serial = $1 and fetched_at is null', [certificate.serial, now]);
    if (certificate.replaces) await supersede(context, recorded, certificate.replaces, `${certificate.serial} was fetched`);
  }
  return { certificate: await loadFunctionCertificate(context.db, serial), body: format === 'pem' ? pems.join('') : certsOnlyPkcs7(pems) };
}

/** Revokes with the orderer's reason: the PKI first (a certificate must never stay good because the record failed), then the record. */
export async function revokeFunctionCertificate(context: FunctionContext, by: Principal, serial: string, reason: FunctionRevocationReason): Promise<FunctionCertificate> {
  if (!FUNCTION_REVOCATION_REASONS.includes(reason)) throw new PortalRefused('invalid', `the reason must be one of ${FUNCTION_REVOCATION_REASONS.join(', ')}`);
  const certificate = await loadFunctionCertificate(context.db, serial);
  const { recorded } = await authorizeOrdering(context.db, by, certificate.functionObject);
  if (certificate.revokedAt) throw new PortalRefused('conflict', `certificate ${certificate.serial} was already revoked (${certificate.revocationReason})`);
  await revokeAndRecord(context, recorded, certificate, reason, 'function-certificate.revoke');
  return loadFunctionCertificate(context.db, serial);
}

async function revokeAndRecord(context: FunctionContext, recorded: Recorded, certificate: FunctionCertificate, reason: RevocationReason, action: string): Promise<void> {
  const now = context.now();
  await context.pki.revoke({ serial: certificate.serial, reason, actor: recorded.actor });
  await context.db.transaction(async (tx) => {
    const [row] = await tx.query<Row>(
      `update portal_function_certificate set revoked_at = $2, revoked_by = $3, revocation_reason = $4 where serial = $1 and revoked_at is null returning ${COLUMNS}`,
      [certificate.serial, now, recorded.actor, reason],
    );
    if (!row) return;
    await appendAudit(tx, { ...recorded, action, target: `function-object:${certificate.functionObject}`, before: certificate, after: fromRow(row) }, now);
  });
}

async function supersede(context: FunctionContext, recorded: Recorded, serial: string, why: string): Promise<void> {
  const old = await loadFunctionCertificate(context.db, serial);
  if (old.revokedAt) return;
  await revokeAndRecord(context, recorded, old, 'superseded', `function-certificate.supersede (${why})`);
}

/** Revokes (superseded) every renewed certificate whose grace period is over; run on a schedule. Returns the serials revoked. */
export async function supersedeOverdue(context: FunctionContext): Promise<string[]> {
  const due = await context.db.query<{ serial: string; replaces: string; organisation_hsa_id: string }>(
    `select n.serial, n.replaces, n.organisation_hsa_id from portal_function_certificate n join portal_function_certificate o on o.serial = n.replaces
      where n.supersede_at <= $1 and o.revoked_at is null order by n.supersede_at`,
    [context.now()],
  );
  for (const row of due) await supersede(context, { actor: 'system:function-certificate-renewal', role: null, organisation: row.organisation_hsa_id }, row.replaces, `grace period after renewal to ${row.serial} ended`);
  return due.map((r) => r.replaces);
}
