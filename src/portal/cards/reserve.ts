import type { Queryable } from '../../store/index.ts';
import { CARD_COLUMNS, cardFromRow, type Card } from './store.ts';

/**
 * A reserve card is temporary (domain.md): good RESERVE_VALID_DAYS after it
 * was activated, or, once extended through self-service, until the
 * extension's end (RESERVE_EXTENSION_DAYS after the first end). Self-service
 * shows and extends by this rule; the expired-reserve-cards job revokes by it.
 */
export const RESERVE_VALID_DAYS = 14;
export const RESERVE_EXTENSION_DAYS = 14;
const DAY_MS = 86_400_000;

export interface ReserveValidity {
  /** null while the card was never activated: its time has not begun. */
  readonly validUntil: Date | null;
  /** The one extension is spent. */
  readonly extended: boolean;
}

/** The rule itself, from the activation time and the end of the extension, if there is one. */
export function reserveValidUntil(activatedAt: Date | null, extendedUntil: Date | null): ReserveValidity {
  if (extendedUntil) return { validUntil: extendedUntil, extended: true };
  return { validUntil: activatedAt ? new Date(activatedAt.getTime() + RESERVE_VALID_DAYS * DAY_MS) : null, extended: false };
}

/** Where the one extension of a card good until `validUntil` ends. */
export function extensionEnd(validUntil: Date): Date {
  return new Date(validUntil.getTime() + RESERVE_EXTENSION_DAYS * DAY_MS);
}

/** Whether the validity has run out at `at` (its last moment is not included). */
export function hasRunOut(validity: ReserveValidity, at: Date): boolean {
  return validity.validUntil !== null && validity.validUntil.getTime() <= at.getTime();
}

/** A reserve card's validity; null for any other kind of card. */
export async function reserveValidity(db: Queryable, card: Card): Promise<ReserveValidity | null> {
  if (card.kind !== 'reserve') return null;
  const [extension] = await db.query<{ valid_until: Date }>('select valid_until from portal_reserve_extension where card_id = $1', [card.id]);
  return reserveValidUntil(card.activatedAt, extension?.valid_until ?? null);
}

/**
 * Active reserve cards whose validity ran out at or before `at`. Every active
 * reserve card is read (few: none stays active longer than its two periods
 * once this is acted on) and the rule above decides, so it is kept in one place.
 */
export async function expiredReserveCards(db: Queryable, at: Date): Promise<{ card: Card; validity: ReserveValidity & { validUntil: Date } }[]> {
  const rows = await db.query<Parameters<typeof cardFromRow>[0] & { extended_until: Date | null }>(
    `select ${CARD_COLUMNS}, (select e.valid_until from portal_reserve_extension e where e.card_id = portal_card.id) as extended_until
       from portal_card where kind = 'reserve' and status = 'active' order by id`,
  );
  const expired: { card: Card; validity: ReserveValidity & { validUntil: Date } }[] = [];
  for (const row of rows) {
    const validity = reserveValidUntil(row.activated_at, row.extended_until);
    if (validity.validUntil && hasRunOut(validity, at)) expired.push({ card: cardFromRow(row), validity: { ...validity, validUntil: validity.validUntil } });
  }
  return expired;
}
