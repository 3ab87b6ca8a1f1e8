import type { Job } from '../../jobs/index.ts';
import type { CardContext } from '../cards/context.ts';
import { deleteUnfinishedOrder, UNFINISHED_STATUSES } from '../cards/orders.ts';

export const UNFINISHED_ORDERS_JOB = 'portal-unfinished-orders';
const DAY_MS = 86_400_000;

/**
 * Deletes orders that never went to production within
 * `portal.unfinishedOrders.deleteAfterDays` (default 90) of being placed:
 * awaiting a second administrator's confirmation, or ordered and never
 * exported. An order in a production batch is never deleted (the
 * manufacturer has it); those past the limit are listed for the issuers.
 */
export function unfinishedOrdersJob(cards: Omit<CardContext, 'db' | 'now'>): Job {
  const days = cards.config.unfinishedOrders.deleteAfterDays;
  return {
    name: UNFINISHED_ORDERS_JOB,
    description: `delete card orders not in production ${days} days after they were placed`,
    defaultSchedule: 'daily 03:15',
    async run(context, { dryRun }) {
      const now = context.now();
      const orderedBefore = new Date(now.getTime() - days * DAY_MS);
      const due = await context.db.query<{ id: number; kind: string; status: string; organisation_hsa_id: string; holder_hsa_id: string; ordered_at: Date }>(
        `select id, kind, status, organisation_hsa_id, holder_hsa_id, ordered_at from portal_card
          where status = any($1::text[]) and batch_id is null and ordered_at <= $2 order by id`,
        [UNFINISHED_STATUSES, orderedBefore],
      );
      const inProduction = await context.db.query<{ id: number; batch_id: number; exported_at: Date }>(
        `select c.id, c.batch_id, b.exported_at from portal_card c join portal_production_batch b on b.id = c.batch_id
          where c.status = 'in-production' and b.returned_at is null and c.ordered_at <= $1 order by c.id`,
        [orderedBefore],
      );
      const deleted: number[] = [];
      const movedOn: number[] = [];
      if (!dryRun) {
        const cardContext = { ...cards, db: context.db, now: context.now };
        for (const order of due) {
          if (await deleteUnfinishedOrder(cardContext, UNFINISHED_ORDERS_JOB, order.id, orderedBefore)) deleted.push(order.id);
          else movedOn.push(order.id);
        }
        if (deleted.length) context.log.info({ deleted: deleted.length }, 'unfinished card orders were deleted');
      }
      return {
        deleteAfterDays: days,
        orderedBefore: orderedBefore.toISOString(),
        due: due.map((o) => ({ order: o.id, kind: o.kind, status: o.status, organisation: o.organisation_hsa_id, holder: o.holder_hsa_id, orderedAt: o.ordered_at.toISOString() })),
        deleted,
        movedOnMeanwhile: movedOn,
        keptInOpenProductionBatch: inProduction.map((o) => ({ order: o.id, batch: o.batch_id, exportedAt: o.exported_at.toISOString() })),
      };
    },
  };
}
