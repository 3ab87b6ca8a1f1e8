import type { Queryable } from '../store/index.ts';
import type { CaId } from './hierarchy.ts';
import { PROFILE_NAMES, type ProfileName } from './profiles.ts';

/** The CAs whose certificates are persons' eIDs: cards (HSA-id and personnummer, LoA 3 and 2) and mobile eIDs. */
export const EID_CA_IDS = ['person-hsa-loa3', 'person-pnr-loa3', 'mobile', 'person-hsa-loa2', 'person-pnr-loa2'] as const satisfies readonly CaId[];

/** Persons' eID certificates; the CAs' own OCSP responder certificates are not eIDs. */
export const EID_PROFILES: readonly ProfileName[] = PROFILE_NAMES.filter((name) => name === 'mobile' || name.startsWith('person-'));

export interface EidCertificate {
  readonly serial: string;
  readonly caId: CaId;
  readonly profile: ProfileName;
  readonly subject: string;
  /** The subject serialNumber: an HSA-id or a personnummer, as issued. */
  readonly identifier: string | null;
  readonly notAfter: Date;
}

/**
 * eID certificates (person and mobile profiles of the eID CAs) that are in force at `at` (issued, not yet
 * expired, not revoked or on hold), optionally only those that expire
 * before `expiringBefore`, or only those among `serials`; by serial, a page of `limit` after `afterSerial`.
 */
export function eidCertificatesInForce(db: Queryable, at: Date, options: { expiringBefore?: Date; serials?: readonly string[]; afterSerial?: string; limit?: number } = {}): Promise<EidCertificate[]> {
  return db.query<EidCertificate>(
    `select serial, ca_id as "caId", profile, subject, identifier, not_after as "notAfter"
       from pki_certificates
      where ca_id = any($1) and profile = any($4) and revoked_at is null and not_before <= $2 and not_after > $2 and ($3::timestamptz is null or not_after <= $3)
        and ($5::text is null or serial > $5) and ($7::text[] is null or serial = any($7::text[]))
      order by serial limit $6`,
    [EID_CA_IDS, at, options.expiringBefore ?? null, EID_PROFILES, options.afterSerial ?? null, options.limit ?? null, options.serials ?? null],
  );
}

/**
 * Where a certificate stands in the order of issue: its issue time to the
 * microsecond, as ISO text (a JavaScript Date would drop the microseconds and
 * so repeat or skip certificates at a page boundary), then its serial.
 */
export interface IssuePosition {
  readonly issuedAt: string;
  readonly serial: string;
}

/** An eID certificate with where it stands in the order of issue and what its state is, in force or not. */
export interface IssuedEidCertificate extends EidCertificate {
  readonly position: IssuePosition;
  readonly notBefore: Date;
  readonly revokedAt: Date | null;
  readonly onHold: boolean;
}

/** Whether a certificate read with its state is in force at `at`: the rule eidCertificatesInForce applies in SQL. */
export function isInForce(certificate: IssuedEidCertificate, at: Date): boolean {
  return certificate.revokedAt === null && certificate.notBefore <= at && at < certificate.notAfter;
}

const ISO_MICROSECONDS = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * eID certificates (person and mobile profiles of the eID CAs) in the order
 * they were issued, whatever their state: a page of `limit` after `after`,
 * only those issued before `before` (an IssuePosition's issuedAt, or
 * eidIssueSettledBefore), or only those among `serials`.
 */
export async function eidCertificatesIssued(
  db: Queryable,
  options: { after?: IssuePosition | null; before?: string; serials?: readonly string[]; limit?: number } = {},
): Promise<IssuedEidCertificate[]> {
  const rows = await db.query<Omit<IssuedEidCertificate, 'position'> & { issuedAt: string }>(
    `select serial, ca_id as "caId", profile, subject, identifier, not_before as "notBefore", not_after as "notAfter", revoked_at as "revokedAt", on_hold as "onHold",
            to_char(issued_at at time zone 'UTC', ${ISO_MICROSECONDS}) as "issuedAt"
       from pki_certificates
      where ca_id = any($1) and profile = any($2) and (issued_at, serial) > (coalesce($3::timestamptz, '-infinity'), coalesce($4::text, ''))
        and ($5::timestamptz is null or issued_at < $5) and ($6::text[] is null or serial = any($6::text[]))
      order by issued_at, serial limit $7`,
    [EID_CA_IDS, EID_PROFILES, options.after?.issuedAt ?? null, options.after?.serial ?? null, options.before ?? null, options.serials ?? null, options.limit ?? null],
  );
  return rows.map(({ issuedAt, ...certificate }) => ({ ...certificate, position: { issuedAt, serial: certificate.serial } }));
}

/**
 * A time before which every eID certificate issued is already visible: a
 * minute (`marginMs`) ago, or the start of the oldest open transaction that
 * has written to pki_certificates (readers do not count), if earlier. A
 * certificate's issued_at is its transaction's start, so one committed later
 * may carry an earlier time; the minute covers a transaction between its
 * start and its first insert (issuing is one statement). Only sessions of
 * roles whose activity this one may read count; the PKI issues as one role.
 */
export async function eidIssueSettledBefore(db: Queryable, marginMs = 60_000): Promise<string> {
  const [row] = await db.query<{ before: string }>(
    `select to_char(least(now() - $1 * interval '1 millisecond',
                          (select min(a.xact_start) from pg_locks l join pg_stat_activity a on a.pid = l.pid
                            where l.relation = 'pki_certificates'::regclass and l.mode = 'RowExclusiveLock' and l.pid <> pg_backend_pid())) at time zone 'UTC', ${ISO_MICROSECONDS}) as before`,
    [marginMs],
  );
  return row!.before;
}
