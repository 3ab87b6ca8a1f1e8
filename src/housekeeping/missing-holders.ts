import type { Config } from '../config/index.ts';
import { holderStandings, httpRegister, syncCatalogue, syncFromRegister, type HolderStanding } from '../directory/index.ts';
import type { Job } from '../jobs/index.ts';
import { eidCertificatesInForce, type EidCertificate } from '../pki/index.ts';
import type { Queryable } from '../store/index.ts';

export const DIRECTORY_SYNC_JOB = 'directory-sync';

export type MissingReason = 'not in the directory' | 'service identity ended' | 'missing from the catalogue' | 'missing from the register' | 'deceased' | 'identifier not recognised';

export interface EidWithoutHolder {
  readonly serial: string;
  readonly caId: string;
  readonly profile: string;
  readonly subject: string;
  readonly identifier: string | null;
  readonly notAfter: string;
  readonly reasons: readonly MissingReason[];
  /** When the directory first lacked the holder, where it says. */
  readonly since: string | null;
}

/** Why an eID's holder no longer stands in the directory; empty when they do. */
export function missingReasons(standing: HolderStanding | undefined): MissingReason[] {
  if (!standing || standing.kind === 'unrecognised') return ['identifier not recognised'];
  if (!standing.known) return ['not in the directory'];
  const reasons: MissingReason[] = [];
  if (standing.serviceIdentityEndedAt) reasons.push('service identity ended');
  if (standing.missingFromCatalogueSince) reasons.push('missing from the catalogue');
  if (standing.missingFromRegisterSince) reasons.push('missing from the register');
  if (standing.deceased) reasons.push('deceased');
  return reasons;
}

/**
 * The eIDs in force (person and mobile CAs; not revoked, not expired) whose
 * holder the directory no longer has: the basis for revocation an ID
 * administrator works through. Nothing is revoked here.
 */
export async function eidsWithoutHolder(db: Queryable, at: Date, pageSize = 10_000): Promise<EidWithoutHolder[]> {
  const found: EidWithoutHolder[] = [];
  // Page by serial, so a registry of millions of eIDs is never held in memory at once.
  for (let afterSerial: string | undefined; ; ) {
    const certificates = await eidCertificatesInForce(db, at, { limit: pageSize, ...(afterSerial ? { afterSerial } : {}) });
    const standings = await holderStandings(db, [...new Set(certificates.flatMap((c) => (c.identifier ? [c.identifier] : [])))]);
    for (const certificate of certificates) {
      const standing = certificate.identifier ? standings.get(certificate.identifier) : undefined;
      const reasons = missingReasons(standing);
      if (reasons.length) found.push(describe(certificate, reasons, standing));
    }
    if (certificates.length < pageSize) return found;
    afterSerial = certificates.at(-1)!.serial;
  }
}

function describe(certificate: EidCertificate, reasons: MissingReason[], standing: HolderStanding | undefined): EidWithoutHolder {
  const dates = [standing?.serviceIdentityEndedAt, standing?.missingFromCatalogueSince, standing?.missingFromRegisterSince].filter((d): d is Date => d instanceof Date);
  const since = dates.length ? new Date(Math.min(...dates.map((d) => d.getTime()))).toISOString() : null;
  return { serial: certificate.serial, caId: certificate.caId, profile: certificate.profile, subject: certificate.subject, identifier: certificate.identifier, notAfter: certificate.notAfter.toISOString(), reasons, since };
}

/**
 * Sync from the catalogue (when directory.ldap.url is set) and the
 * population register (when directory.register.url is set), then list the
 * eIDs whose holder is missing. A source that fails fails the run (the list
 * would be built on stale data); the directory's own runs record each sync.
 */
export function directorySyncJob(config: Config): Job {
  return {
    name: DIRECTORY_SYNC_JOB,
    description: 'sync the directory from the catalogue and the population register, then list the eIDs whose holder is missing (never revokes)',
    defaultSchedule: 'daily 02:00',
    async run(context, { dryRun }) {
      const { ldap, register } = config.directory;
      let catalogue: unknown = 'not configured (directory.ldap.url)';
      if (ldap.url) {
        const { report } = await syncCatalogue(context.db, ldap, { mode: config.housekeeping.directorySync.catalogueMode, dryRun, now: context.now });
        catalogue = { runId: report.runId, mode: report.mode, counts: report.counts, refused: report.refused.length };
      }
      let registerReport: unknown = 'not configured (directory.register.url)';
      if (register.url) {
        const report = await syncFromRegister(context.db, httpRegister({ ...register, url: register.url }, { today: context.now }), { now: context.now, dryRun, mode: 'http' });
        registerReport = { runId: report.runId, checked: report.checked, changed: report.changed, markedMissing: report.markedMissing, returned: report.returned };
      }
      const missing = await eidsWithoutHolder(context.db, context.now());
      if (missing.length) context.log.info({ eidsWithoutHolder: missing.length }, 'eIDs whose holder is missing from the directory');
      return { catalogue, register: registerReport, eidsWithoutHolderCount: missing.length, eidsWithoutHolder: missing };
    },
  };
}
