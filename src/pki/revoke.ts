import type { Database, Queryable } from '../store/index.ts';
import { normaliseSerial } from './serial.ts';

/** RFC 5280 §5.3.1 reason codes (7 is unused; removeFromCRL is not a reason one may ask for). */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(value: string): value is RevocationReason {
  return Object.hasOwn(REVOCATION_REASONS, value);
}

export class RevocationRefused extends Error {
  override readonly name = 'RevocationRefused';
}

export interface RevokeRequest {
  readonly serial: string;
  readonly reason: RevocationReason;
  /** When the request was received or the key is believed compromised; a request logged on paper keeps its time. */
  readonly invalidityDate?: Date;
  /** Who registered it (recorded with the revocation). */
  readonly actor: string;
}

const MAX_ACTOR = 200;

export interface CertificateStatus {
  readonly serial: string;
  readonly caId: string;
  readonly profile: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly status: 'good' | 'revoked' | 'on-hold';
  readonly revokedAt?: Date;
  readonly reason?: RevocationReason;
  readonly invalidityDate?: Date;
  /** Who registered the revocation (or hold) in force, from the revocation record. */
  readonly revokedBy?: string;
}

interface Row {
  serial: string;
  ca_id: string;
  profile: string;
  subject: string;
  not_before: Date;
  not_after: Date;
  revoked_at: Date | null;
  revocation_reason: RevocationReason | null;
  invalidity_date: Date | null;
  on_hold: boolean;
}

function toStatus(row: Row, revokedBy?: string): CertificateStatus {
  return {
    serial: row.serial,
    caId: row.ca_id,
    profile: row.profile,
    subject: row.subject,
    notBefore: row.not_before,
    notAfter: row.not_after,
    status: row.revoked_at === null ? 'good' : row.on_hold ? 'on-hold' : 'revoked',
    ...(row.revoked_at ? { revokedAt: row.revoked_at } : {}),
    ...(row.revocation_reason ? { reason: row.revocation_reason } : {}),
    ...(row.invalidity_date ? { invalidityDate: row.invalidity_date } : {}),
    ...(row.revoked_at && revokedBy ? { revokedBy } : {}),
  };
}

/** The actor of the revocation in force: the last 'revoked' event of the serial. */
async function revokedBy(db: Queryable, serial: string): Promise<string | undefined> {
  const [event] = await db.query<{ actor: string }>(`select actor from pki_events where serial = $1 and action = 'revoked' order by id desc limit 1`, [serial]);
  return event?.actor;
}

const SELECT = 'select serial, ca_id, profile, subject, not_before, not_after, revoked_at, revocation_reason, invalidity_date, on_hold from pki_certificates where serial = $1';

export async function certificateStatus(db: Queryable, serialInput: string): Promise<CertificateStatus | undefined> {
  const serial = normaliseSerial(serialInput);
  if (!serial) throw new RevocationRefused(`${JSON.stringify(serialInput)} is not a certificate serial number (hex)`);
  const [row] = await db.query<Row>(SELECT, [serial]);
  return row ? toStatus(row, row.revoked_at ? await revokedBy(db, serial) : undefined) : undefined;
}

/**
 * Revokes a certificate. Idempotent: revoking a revoked certificate changes
 * nothing and says so. A revoked certificate never becomes valid again; only
 * a hold (when the deployment allows holds) can be released or made final.
 * `within`: the caller's transaction, so the revocation and the caller's own
 * record of it are committed, or rolled back, together.
 */
export async function revokeCertificate(db: Database, request: RevokeRequest, now: Date, allowHold: boolean, within?: Queryable): Promise<{ status: CertificateStatus; changed: boolean }> {
  const serial = normaliseSerial(request.serial);
  if (!serial) throw new RevocationRefused(`${JSON.stringify(request.serial)} is not a certificate serial number (hex)`);
  if (typeof request.actor !== 'string' || request.actor.trim() === '' || request.actor.length > MAX_ACTOR) throw new RevocationRefused('say who registers the revocation (actor: 1 to 200 characters)');
  if (!isRevocationReason(request.reason)) throw new RevocationRefused(`unknown reason ${JSON.stringify(request.reason)}; use one of ${Object.keys(REVOCATION_REASONS).join(', ')}`);
  if (request.reason === 'certificateHold' && !allowHold) throw new RevocationRefused('certificateHold is not enabled in this deployment (pki.allowCertificateHold)');
  if (request.invalidityDate && (Number.isNaN(request.invalidityDate.getTime()) || request.invalidityDate.getTime() > now.getTime())) {
    throw new RevocationRefused('the invalidity date must be a valid time that is not in the future');
  }
  const revokedAt = new Date(Math.floor(now.getTime() / 1000) * 1000);
  const inTransaction = <T>(work: (tx: Queryable) => Promise<T>) => (within ? work(within) : db.transaction(work));
  return inTransaction(async (tx) => {
    const [current] = await tx.query<Row>(`${SELECT} for update`, [serial]);
    if (!current) throw new RevocationRefused(`no certificate with serial ${serial} was issued here`);
    if (current.revoked_at !== null && !(current.on_hold && request.reason !== 'certificateHold')) return { status: toStatus(current, await revokedBy(tx, serial)), changed: false };
    const invalidity = request.invalidityDate ? new Date(Math.floor(request.invalidityDate.getTime() / 1000) * 1000) : null;
    const [row] = await tx.query<Row>(
      `update pki_certificates set revoked_at = coalesce(revoked_at, $2), revocation_reason = $3, invalidity_date = coalesce($4, invalidity_date), on_hold = $5
        where serial = $1 returning serial, ca_id, profile, subject, not_before, not_after, revoked_at, revocation_reason, invalidity_date, on_hold`,
      [serial, revokedAt, request.reason, invalidity, request.reason === 'certificateHold'],
    );
    await bumpRevision(tx, current.ca_id);
    await tx.query(`insert into pki_events (action, serial, ca_id, actor, details) values ('revoked', $1, $2, $3, $4)`, [
      serial,
      current.ca_id,
      request.actor,
      JSON.stringify({ reason: request.reason, invalidityDate: invalidity?.toISOString() ?? null, registeredAt: revokedAt.toISOString() }),
    ]);
    return { status: toStatus(row!, request.actor), changed: true };
  });
}

/** Releases a hold: the certificate is good again and drops out of the next CRL. */
export async function releaseHold(db: Database, serialInput: string, actor: string): Promise<CertificateStatus> {
  const serial = normaliseSerial(serialInput);
  if (!serial) throw new RevocationRefused(`${JSON.stringify(serialInput)} is not a certificate serial number (hex)`);
  return db.transaction(async (tx) => {
    const [current] = await tx.query<Row>(`${SELECT} for update`, [serial]);
    if (!current) throw new RevocationRefused(`no certificate with serial ${serial} was issued here`);
    if (!current.on_hold) throw new RevocationRefused(current.revoked_at ? 'the certificate is revoked for good; only a hold can be released' : 'the certificate is not on hold');
    const [row] = await tx.query<Row>(
      `update pki_certificates set revoked_at = null, revocation_reason = null, invalidity_date = null, on_hold = false where serial = $1
        returning serial, ca_id, profile, subject, not_before, not_after, revoked_at, revocation_reason, invalidity_date, on_hold`,
      [serial],
    );
    await bumpRevision(tx, current.ca_id);
    await tx.query(`insert into pki_events (action, serial, ca_id, actor) values ('hold-released', $1, $2, $3)`, [serial, current.ca_id, actor]);
    return toStatus(row!);
  });
}

/** The record of a certificate issued on hold (`issue` with `heldBy`), in the transaction that issued it: as a hold placed at issuance. */
export async function recordIssuanceHold(tx: Queryable, serial: string, caId: string, actor: string, at: Date): Promise<void> {
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > MAX_ACTOR) throw new RevocationRefused('say who registers the hold (actor: 1 to 200 characters)');
  await bumpRevision(tx, caId);
  await tx.query(`insert into pki_events (action, serial, ca_id, actor, details) values ('revoked', $1, $2, $3, $4)`, [
    serial,
    caId,
    actor,
    JSON.stringify({ reason: 'certificateHold', invalidityDate: null, registeredAt: new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString(), atIssuance: true }),
  ]);
}

async function bumpRevision(tx: Queryable, caId: string): Promise<void> {
  await tx.query('insert into pki_ca_revisions (ca_id, revision) values ($1, 1) on conflict (ca_id) do update set revision = pki_ca_revisions.revision + 1', [caId]);
}

/** Each CA's revision; a change means its CRL and OCSP answers must be made anew. */
export async function caRevisions(db: Queryable): Promise<Map<string, number>> {
  const rows = await db.query<{ ca_id: string; revision: number }>('select ca_id, revision from pki_ca_revisions');
  return new Map(rows.map((r) => [r.ca_id, r.revision]));
}
