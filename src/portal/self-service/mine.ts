import { findPersonByServiceIdentity } from '../../directory/index.ts';
import type { Database } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import type { CardPki } from '../cards/context.ts';
import { extensionEnd, hasRunOut, reserveValidity, type ReserveValidity } from '../cards/reserve.ts';
import { recordRevocation } from '../cards/revocation.ts';
import { cardsOf, certificatesOf, loadCard, type Card, type CardStatus } from '../cards/store.ts';
import { PortalRefused } from '../errors.ts';

/**
 * "Mina sidor": what a signed-in end user does with their own eIDs. No
 * portal role is needed; every rule is that the eID is the holder's own
 * (the same personnummer as the service identity they signed in with).
 */

export interface SelfServiceContext {
  readonly db: Database;
  readonly pki: Pick<CardPki, 'revoke' | 'status'>;
  readonly now: () => Date;
}

export interface MyCertificate {
  readonly slot: string;
  readonly serial: string;
  readonly profile: string;
  readonly status: 'good' | 'revoked' | 'unknown';
  readonly reason: string | null;
}

export interface MyEid {
  readonly card: Pick<Card, 'id' | 'kind' | 'loa' | 'status' | 'holder' | 'organisation' | 'cardNumber' | 'orderedAt' | 'activatedAt'>;
  readonly certificates: readonly MyCertificate[];
  /** Reserve cards: until when the card may be used, and whether the one extension is spent. */
  readonly reserve: ReserveValidity | null;
}

async function personnummerOf(db: Database, hsaId: string): Promise<string> {
  const person = await findPersonByServiceIdentity(db, hsaId, { mayViewProtectedIdentities: true });
  if (!person) throw new PortalRefused('forbidden', `${hsaId} is not a current service identity`);
  return person.personnummer;
}

/** The card, if it is the signed-in person's own; another's card is "not found", so nothing is learnt about it. */
async function ownCard(db: Database, hsaId: string, cardId: number): Promise<Card> {
  const personnummer = await personnummerOf(db, hsaId);
  const card = await loadCard(db, cardId).catch(() => null);
  if (!card || card.personnummer !== personnummer) throw new PortalRefused('not-found', `you have no card ${cardId}`);
  return card;
}

/** My cards (every kind, every status) with each certificate's status in the PKI. */
export async function myEids(context: SelfServiceContext, hsaId: string): Promise<MyEid[]> {
  const personnummer = await personnummerOf(context.db, hsaId);
  const eids: MyEid[] = [];
  for (const card of await cardsOf(context.db, personnummer)) {
    const certificates: MyCertificate[] = [];
    for (const c of await certificatesOf(context.db, card.id)) {
      const status = await context.pki.status(c.serial);
      certificates.push({ ...c, status: status ? (status.status === 'good' ? 'good' : 'revoked') : 'unknown', reason: status?.reason ?? null });
    }
    const { id, kind, loa, status, holder, organisation, cardNumber, orderedAt, activatedAt } = card;
    eids.push({ card: { id, kind, loa, status, holder, organisation, cardNumber, orderedAt, activatedAt }, certificates, reserve: await reserveValidity(context.db, card) });
  }
  return eids;
}

const REPORTABLE: readonly CardStatus[] = ['sent', 'active'];

/**
 * I lost my card: every certificate on it revoked at once (keyCompromise,
 * invalid from now) and recorded as a revocation request through the
 * self-service channel, kept ten years like any other, and audited — by the
 * same recording as a registered request (recordRevocation).
 */
export async function reportMyCardLost(context: SelfServiceContext, hsaId: string, cardId: number): Promise<{ revocationId: number; serials: readonly string[] }> {
  const card = await ownCard(context.db, hsaId, cardId);
  if (!REPORTABLE.includes(card.status)) throw new PortalRefused('conflict', `card ${card.id} is ${card.status}: only a card sent to you or in use can be reported lost`);
  const certificates = await certificatesOf(context.db, card.id);
  if (certificates.length === 0) throw new PortalRefused('conflict', `card ${card.id} has no certificates to revoke`);
  const serials = certificates.map((c) => c.serial);
  const registered = await recordRevocation(context, { actor: hsaId, role: null, organisation: card.organisation }, card, certificates, serials, {
    reportedBy: hsaId,
    channel: 'self-service',
    receivedAt: context.now(),
    cause: 'lost',
    reason: 'keyCompromise',
    note: null,
    action: 'self-service.report-lost',
  });
  return { revocationId: registered.id, serials };
}

/**
 * Extends my active reserve card once, by RESERVE_EXTENSION_DAYS from when it would have run out; a second
 * extension, or one after it ran out, is refused. The card is locked meanwhile, so the expired-reserve-cards
 * job (which locks it to revoke) either sees the extension or revokes first and this is refused.
 */
export async function extendMyReserveCard(context: SelfServiceContext, hsaId: string, cardId: number): Promise<{ validUntil: Date }> {
  const now = context.now();
  const read = await ownCard(context.db, hsaId, cardId);
  if (read.kind !== 'reserve') throw new PortalRefused('invalid', `card ${read.id} is not a reserve card; only reserve cards are extended`);
  return context.db.transaction(async (tx) => {
    const card = await loadCard(tx, read.id, true);
    if (card.status !== 'active' || !card.activatedAt) throw new PortalRefused('conflict', `reserve card ${card.id} is ${card.status}: only an active reserve card can be extended`);
    const validity = (await reserveValidity(tx, card))!;
    if (validity.extended) throw new PortalRefused('conflict', `reserve card ${card.id} was already extended once (until ${validity.validUntil!.toISOString()}); order a new card`);
    if (hasRunOut(validity, now)) throw new PortalRefused('conflict', `reserve card ${card.id} ran out ${validity.validUntil!.toISOString()}; order a new card`);
    const validUntil = extensionEnd(validity.validUntil!);
    const inserted = await tx.query('insert into portal_reserve_extension (card_id, extended_by, extended_at, valid_until) values ($1, $2, $3, $4) on conflict (card_id) do nothing returning card_id', [card.id, hsaId, now, validUntil]);
    if (inserted.length === 0) throw new PortalRefused('conflict', `reserve card ${card.id} was already extended once; order a new card`);
    await appendAudit(tx, { actor: hsaId, role: null, organisation: card.organisation, action: 'self-service.extend-reserve', target: `card:${card.id}`, before: { validUntil: validity.validUntil }, after: { validUntil } }, now);
    return { validUntil };
  });
}
