import type { Job } from '../../jobs/index.ts';
import type { CardContext } from '../cards/context.ts';
import { revokeBySystem } from '../cards/revocation.ts';
import { PortalRefused } from '../errors.ts';

export const UNACTIVATED_CARDS_JOB = 'portal-unactivated-cards';
const DAY_MS = 86_400_000;

/**
 * Revokes ordinary cards still not handed out and activated
 * `portal.unactivatedCards.revokeAfterDays` (default 100) after they came
 * back produced (the batch's return): every certificate revoked
 * (cessationOfOperation), a revocation record kept ten years, the card
 * revoked and an audit entry with the job as actor — as a registered request
 * is recorded (revokeBySystem). Reserve and test cards are left alone.
 */
export function unactivatedCardsJob(cards: Omit<CardContext, 'db' | 'now'>): Job {
  const days = cards.config.unactivatedCards.revokeAfterDays;
  return {
    name: UNACTIVATED_CARDS_JOB,
    description: `revoke ordinary cards not activated within ${days} days of being produced and sent`,
    defaultSchedule: 'daily 03:00',
    async run(context, { dryRun }) {
      const now = context.now();
      const sentBefore = new Date(now.getTime() - days * DAY_MS);
      const due = await context.db.query<{ id: number; organisation_hsa_id: string; card_number: string | null; sent_at: Date }>(
        `select c.id, c.organisation_hsa_id, c.card_number, b.returned_at as sent_at
           from portal_card c join portal_production_batch b on b.id = c.batch_id
          where c.status = 'sent' and c.kind = 'ordinary' and b.returned_at <= $1 order by c.id`,
        [sentBefore],
      );
      const revoked: { card: number; serials: readonly string[]; revocation: number }[] = [];
      const skipped: { card: number; reason: string }[] = [];
      if (!dryRun) {
        const cardContext = { ...cards, db: context.db, now: context.now };
        for (const card of due) {
          try {
            const registered = await revokeBySystem(cardContext, UNACTIVATED_CARDS_JOB, card.id, 'sent', 'not-activated', `not activated within ${days} days of being sent (${card.sent_at.toISOString().slice(0, 10)})`);
            revoked.push({ card: card.id, serials: registered.serials, revocation: registered.id });
          } catch (error) {
            // Handed out or revoked by someone meanwhile: nothing to do for this card.
            if (!(error instanceof PortalRefused) || error.kind !== 'conflict') throw error;
            skipped.push({ card: card.id, reason: error.message });
          }
        }
        if (revoked.length) context.log.info({ revoked: revoked.length }, 'ordinary cards never activated were revoked');
      }
      return {
        revokeAfterDays: days,
        sentBefore: sentBefore.toISOString(),
        due: due.map((c) => ({ card: c.id, cardNumber: c.card_number, organisation: c.organisation_hsa_id, sentAt: c.sent_at.toISOString() })),
        revoked,
        skipped,
      };
    },
  };
}
