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
