import { appendAudit } from '../audit.ts';
import { authorize, isOperator, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { cardTarget, type CardContext } from './context.ts';
import { checkIdentityCheck, type IdentityCheck } from './identity-check.ts';
import { cardSnapshot, certificatesOf, loadCard, moveCard, type Card } from './store.ts';

export interface HandOut {
  readonly cardId: number;
  /** The card number read off the card being handed over. */
  readonly cardNumber: string;
  /** The personnummer of the person standing there, read off their ID document. */
  readonly personnummer: string;
  readonly check: IdentityCheck;
}

/**
 * Hands out a sent card after the seven-step identity check and activates
 * it: the check is recorded, the card is active, its certificates leave their
 * hold. Refused for a card of another person, another card number, or an
 * administrator without the role where the card belongs. Should releasing a
 * hold fail after the card was recorded active, activating again finishes it.
 */
export async function handOutAndActivate(context: CardContext, by: Principal, request: HandOut): Promise<Card> {
  const now = context.now();
  const card = await loadCard(context.db, request.cardId);
  const recorded = authorize(by, 'card.hand-out', await cardTarget(context.db, card));
  if (isOperator(by)) throw new PortalRefused('forbidden', 'a card is handed out in person by an ID administrator');
  if (card.personnummer !== request.personnummer) throw new PortalRefused('forbidden', `card ${card.id} belongs to another person; hand out only the holder's own card`);
  if (card.cardNumber !== request.cardNumber) throw new PortalRefused('invalid', `card ${card.id} has card number ${card.cardNumber ?? '(not produced)'}, not ${request.cardNumber}`);
  const certificates = await certificatesOf(context.db, card.id);
  let active = card;
  if (card.status === 'sent') {
    const steps = checkIdentityCheck(request.check, now);
    active = await context.db.transaction(async (tx) => {
      // Locked first: a revocation under way (cards/revocation.ts) holds the lock until it commits; then the card is revoked, not sent.
      const current = await loadCard(tx, card.id, true);
      if (current.status !== 'sent') throw new PortalRefused('conflict', `card ${card.id} is ${current.status}, no longer sent; it cannot be handed out`);
      await tx.query(
        `insert into portal_identity_check (card_id, document_type, document_number, document_expires_on, steps, checked_by, checked_at) values ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
        [card.id, request.check.documentType, request.check.documentNumber, request.check.documentExpiresOn, JSON.stringify(steps), recorded.actor, now],
      );
      const moved = await moveCard(tx, card, 'active', 'activated_by = $5, activated_at = $3', [recorded.actor], now);
      await appendAudit(
        tx,
        { ...recorded, action: 'card.hand-out', target: `card:${card.id}`, before: cardSnapshot(card), after: { ...cardSnapshot(moved), identityCheck: { documentType: request.check.documentType, documentExpiresOn: request.check.documentExpiresOn, steps } } },
        now,
      );
      return moved;
    });
  } else if (card.status !== 'active') {
    throw new PortalRefused('conflict', `card ${card.id} is ${card.status}; only a sent card can be handed out`);
  }
  let released = 0;
  for (const certificate of certificates) {
    const status = await context.pki.status(certificate.serial);
    if (status?.status === 'on-hold') {
      await context.pki.releaseIssuanceHold(certificate.serial, recorded.actor);
      released++;
    }
  }
  if (card.status === 'active' && released === 0) throw new PortalRefused('conflict', `card ${card.id} is already active`);
  return active;
}
