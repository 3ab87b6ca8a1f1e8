import type { Job } from '../../jobs/index.ts';
import { appendAudit } from '../audit.ts';

export const RETENTION_JOB = 'portal-retention';
const BATCH = 1_000;

/**
 * Purges what the portal keeps only for a time (domain.md §4):
 * - revocation records, ten years after registration (their `keep_until`).
 *   The database refuses to delete one before that by its own clock, so a
 *   node with a clock running ahead cannot purge a younger record either.
 * - card photos are kept only until the card is produced: they are purged
 *   at production and at withdrawal, and a database check forbids a photo on
 *   any card past production; unfinished orders go with their photo
 *   (portal-unfinished-orders). Nothing is left here for them.
 * Identity checks (which document was shown) have no retention of their own
 * in the domain: they are the evidence of a hand-out and are kept.
 */
export const retentionJob: Job = {
  name: RETENTION_JOB,
  description: 'purge revocation records ten years after registration (the only portal data with a retention period left to enforce)',
  defaultSchedule: 'daily 04:00',
  async run(context, { dryRun }) {
    const now = context.now();
    const due = await context.db.query<{ id: number; card_id: number | null; registered_at: Date; keep_until: Date }>(
      'select id, card_id, registered_at, keep_until from portal_revocation where keep_until <= least($1::timestamptz, now()) order by keep_until, id',
      [now],
    );
    const purged: number[] = [];
    if (!dryRun) {
      for (let i = 0; i < due.length; i += BATCH) {
        const ids = due.slice(i, i + BATCH).map((r) => r.id);
        await context.db.transaction(async (tx) => {
          const rows = await tx.query<{ id: number; card_id: number | null; registered_at: Date; keep_until: Date }>(
            'delete from portal_revocation where id = any($1::bigint[]) and keep_until <= now() returning id, card_id, registered_at, keep_until',
            [ids],
          );
          if (!rows.length) return;
          // What was purged and when it was registered; never the personal data the records held.
          const records = rows.map((r) => ({ id: r.id, card: r.card_id, registeredAt: r.registered_at, keepUntil: r.keep_until }));
          await appendAudit(tx, { actor: `system:${RETENTION_JOB}`, role: null, organisation: null, action: 'revocation.purge', target: null, before: { records }, after: null }, now);
          purged.push(...rows.map((r) => r.id));
        });
      }
      if (purged.length) context.log.info({ purged: purged.length }, 'revocation records past their ten years were purged');
    }
    return {
      revocationRecords: { due: due.map((r) => ({ id: r.id, card: r.card_id, registeredAt: r.registered_at.toISOString(), keepUntil: r.keep_until.toISOString() })), purged },
      photos: 'none to purge: a photo is removed when its card is produced or its order withdrawn or deleted, and the database refuses a photo on any card past production',
    };
  },
};
