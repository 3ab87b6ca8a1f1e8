import type { Job } from '../../jobs/index.ts';
import { checkNewCertificates, recheckRecorded } from '../unknown-holders.ts';

export const UNKNOWN_HOLDERS_JOB = 'portal-unknown-holders';

/** How many serials a summary lists; the counts are always whole. */
const LISTED = 100;

/**
 * Keeps the portal's list of certificates of unknown holders: checks the
 * recorded ones again (dropping those whose holder the directory now knows,
 * and those expired or revoked for good), then checks each eID certificate
 * issued since the last run once against the directory and records those
 * whose holder it does not know. The portal's page checks only these and what
 * was issued after the run, so it answers quickly; a first run goes through
 * every certificate. Run again with nothing new, it changes nothing.
 */
export const unknownHoldersJob: Job = {
  name: UNKNOWN_HOLDERS_JOB,
  description: 'check new eID certificates once for a holder the directory does not know, and the ones found so far again',
  defaultSchedule: 'every 15m',
  async run(context, { dryRun }) {
    const now = context.now();
    const rechecked = await recheckRecorded(context.db, now, dryRun);
    const checked = await checkNewCertificates(context.db, now, dryRun);
    if (!dryRun && (checked.unknown.length || rechecked.nowKnown.length || rechecked.noLongerInForce.length)) {
      context.log.info({ found: checked.unknown.length, nowKnown: rechecked.nowKnown.length, noLongerInForce: rechecked.noLongerInForce.length }, 'certificates of unknown holders updated');
    }
    const some = (serials: readonly string[]) => serials.slice(0, LISTED);
    return {
      recordedBefore: rechecked.recorded,
      droppedHolderNowKnown: { count: rechecked.nowKnown.length, serials: some(rechecked.nowKnown) },
      droppedNoLongerInForce: { count: rechecked.noLongerInForce.length, serials: some(rechecked.noLongerInForce) },
      checkedFrom: checked.from,
      checkedThrough: checked.through,
      examined: checked.examined,
      foundUnknown: { count: checked.unknown.length, serials: some(checked.unknown) },
    };
  },
};
