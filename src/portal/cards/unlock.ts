import { createHmac, randomBytes, X509Certificate } from 'node:crypto';
import type { CollectResult, OrderService, OrderTokens } from '../../authn/index.ts';
import type { Queryable } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import { authorize, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { cardTarget, type CardContext } from './context.ts';
import { loadCard, type Card } from './store.ts';

/** The requester the holder sees in their eID app when the portal asks them to log in for an unlock. */
export const UNLOCK_REQUESTER = { clientId: 'tillit-portal-unlock', displayName: 'eID-portalen: lås upp kort' } as const;

/**
 * The card's admin key, made once (32 random bytes) and kept by the portal;
 * the manufacturer writes the same key onto the card (it travels in the
 * signed production batch, `adminKey`).
 */
export async function cardAdminKey(db: Queryable, now: Date, cardId: number): Promise<Buffer> {
  await loadCard(db, cardId);
  await db.query('insert into portal_card_admin_key (card_id, admin_key, created_at) values ($1, $2, $3) on conflict (card_id) do nothing', [cardId, randomBytes(32), now]);
  const [row] = await db.query<{ admin_key: Uint8Array }>('select admin_key from portal_card_admin_key where card_id = $1', [cardId]);
  return Buffer.from(row!.admin_key);
}

/** Starts the holder's mobile eID login that an unlock rests on; the holder answers it in their eID app. */
export function startUnlockLogin(orders: OrderService, endUserIp: string): Promise<OrderTokens> {
  return orders.start({ kind: 'auth', requester: UNLOCK_REQUESTER, endUserIp, userVisibleText: 'Lås upp ditt SITHS-kort' });
}

/** The card, if the administrator may unlock it and it is active (an unlock of anything else is refused before anyone is asked). */
export async function unlockableCard(context: CardContext, administrator: Principal, cardId: number): Promise<Card> {
  const card = await loadCard(context.db, cardId);
  authorize(administrator, 'card.unlock', await cardTarget(context.db, card));
  if (card.status !== 'active') throw new PortalRefused('conflict', `card ${card.id} is ${card.status}: only an active card is unlocked`);
  return card;
}

/** An ID administrator starts the holder's login for unlocking a card they may unlock (checked first, so nobody is asked in vain). */
export async function startCardUnlock(context: CardContext, orders: OrderService, administrator: Principal, cardId: number, endUserIp: string): Promise<OrderTokens> {
  await unlockableCard(context, administrator, cardId);
  return startUnlockLogin(orders, endUserIp);
}

/** Where the holder's unlock login stands; null when the order is gone (expired and collected away, or never the portal's). */
export async function unlockLoginStatus(orders: OrderService, orderRef: string): Promise<CollectResult | null> {
  try {
    return await orders.collect(orderRef, UNLOCK_REQUESTER.clientId);
  } catch {
    return null;
  }
}

/** The administrator gives up on a pending unlock login; an order already finished or gone needs nothing. */
export async function cancelUnlockLogin(orders: OrderService, orderRef: string): Promise<void> {
  await orders.cancel(orderRef, UNLOCK_REQUESTER.clientId).catch(() => undefined);
}

export interface UnlockRequest {
  readonly cardId: number;
  /** The login order the holder approved with their mobile eID. */
  readonly orderRef: string;
  /** The card's unlock challenge, base64. */
  readonly challenge: string;
}

/**
 * Answers a PIN-blocked card's unlock challenge (HMAC-SHA256 under the card's
 * admin key) once its holder has logged in with a mobile eID of theirs, in
 * force, through the portal's own login order; each login unlocks once.
 * `administrator`: an ID administrator doing it for the holder (after the
 * holder's login), checked with `may` for the card's place; null: the holder
 * themselves. Audited.
 */
export async function unlockCard(context: CardContext, orders: OrderService, administrator: Principal | null, request: UnlockRequest): Promise<{ response: string }> {
  const challenge = Buffer.from(typeof request.challenge === 'string' ? request.challenge : '', 'base64');
  if (challenge.length < 16 || challenge.length > 64) throw new PortalRefused('invalid', 'challenge: the base64 unlock challenge the card shows (16 to 64 bytes)');
  const card = await loadCard(context.db, request.cardId);
  const recorded = administrator ? authorize(administrator, 'card.unlock', await cardTarget(context.db, card)) : null;
  if (card.status !== 'active') throw new PortalRefused('conflict', `card ${card.id} is ${card.status}: only an active card is unlocked`);
  let login;
  try {
    login = await orders.collect(request.orderRef, UNLOCK_REQUESTER.clientId);
  } catch {
    throw new PortalRefused('forbidden', 'no such login: the holder must log in with their mobile eID for this unlock first');
  }
  if (login.status !== 'complete') throw new PortalRefused('forbidden', `the holder's mobile eID login is ${login.status === 'pending' ? 'not yet approved' : 'failed'}: log in again`);
  const holder = login.completionData.user.personalIdentityNumber;
  if (holder !== card.personnummer) throw new PortalRefused('forbidden', `card ${card.id} belongs to someone else than the person who logged in`);
  const serial = new X509Certificate(login.completionData.certificatePem).serialNumber.toLowerCase();
  const status = await context.pki.status(serial);
  if (status?.caId !== 'mobile' || status.status !== 'good') throw new PortalRefused('forbidden', 'the login was not made with a mobile eID in force: log in with your mobile eID');
  const response = createHmac('sha256', await cardAdminKey(context.db, context.now(), card.id)).update(challenge).digest('base64');
  const actor = recorded?.actor ?? `holder:${holder}`;
  await context.db.transaction(async (tx) => {
    const inserted = await tx.query('insert into portal_card_unlock (order_ref, card_id, holder_serial, actor, unlocked_at) values ($1, $2, $3, $4, $5) on conflict (order_ref) do nothing returning order_ref', [
      request.orderRef,
      card.id,
      serial,
      actor,
      context.now(),
    ]);
    if (inserted.length === 0) throw new PortalRefused('conflict', 'that login has already been used for an unlock: log in again');
    await appendAudit(tx, { actor, role: recorded?.role ?? null, organisation: card.organisation, action: 'card.unlock', target: `card:${card.id}`, before: null, after: { mobileEid: serial, orderRef: request.orderRef } }, context.now());
  });
  return { response };
}
