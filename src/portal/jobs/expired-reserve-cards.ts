import type { Job } from '../../jobs/index.ts';
import type { Queryable } from '../../store/index.ts';
import type { CardContext } from '../cards/context.ts';
import { expiredReserveCards, hasRunOut, RESERVE_VALID_DAYS, reserveValidity } from '../cards/reserve.ts';
import { revokeBySystem } from '../cards/revocation.ts';
import type { Card } from '../cards/store.ts';
import { PortalRefused } from '../errors.ts';

export const EXPIRED_RESERVE_CARDS_JOB = 'portal-expired-reserve-cards';

/**
 * Revokes active reserve cards whose validity ran out (cards/reserve.ts:
 * RESERVE_VALID_DAYS after activation, or the end of their one extension):
 * every certificate revoked (cessationOfOperation), a revocation record kept
 * ten years, the card revoked and an audit entry with the job as actor
 * (revokeBySystem). The card certificates themselves run for years (issued at
 * production, before anyone knows when the card is handed out or extended), so
 * this revocation is what ends a reserve card.
 */
export function expiredReserveCardsJob(cards: Omit<CardContext, 'db' | 'now'>): Job {
  return {
    name: EXPIRED_RESERVE_CARDS_JOB,
    description: `revoke reserve cards whose validity (${RESERVE_VALID_DAYS} days from activation, or their one extension) has run out`,
    defaultSchedule: 'every 1h',
    async run(context, { dryRun }) {
      const now = context.now();
      const due = await expiredReserveCards(context.db, now);
      const revoked: { card: number; serials: readonly string[]; revocation: number }[] = [];
      const skipped: { card: number; reason: string }[] = [];
      if (!dryRun) {
        const cardContext = { ...cards, db: context.db, now: context.now };
        // Checked again under the card's lock: an extension or a revocation that got there first wins.
        const stillRunOut = async (tx: Queryable, card: Card) => {
          const validity = await reserveValidity(tx, card);
          if (!validity || !hasRunOut(validity, now)) throw new PortalRefused('conflict', `reserve card ${card.id} is valid until ${validity?.validUntil?.toISOString() ?? '(not activated)'}`);
        };
        for (const { card, validity } of due) {
          const note = `reserve card valid until ${validity.validUntil.toISOString()}${validity.extended ? ' (extended once)' : ''}`;
          try {
            const registered = await revokeBySystem(cardContext, EXPIRED_RESERVE_CARDS_JOB, card.id, 'active', 'reserve-expired', note, stillRunOut);
            revoked.push({ card: card.id, serials: registered.serials, revocation: registered.id });
          } catch (error) {
            // Reported lost, revoked or extended by someone meanwhile: nothing to do for this card.
            if (!(error instanceof PortalRefused) || error.kind !== 'conflict') throw error;
            skipped.push({ card: card.id, reason: error.message });
          }
        }
        if (revoked.length) context.log.info({ revoked: revoked.length }, 'reserve cards past their validity were revoked');
      }
      return {
        due: due.map(({ card, validity }) => ({
          card: card.id,
          cardNumber: card.cardNumber,
          organisation: card.organisation,
          activatedAt: card.activatedAt?.toISOString() ?? null,
          validUntil: validity.validUntil.toISOString(),
          extended: validity.extended,
        })),
        revoked,
        skipped,
      };
    },
  };
}
