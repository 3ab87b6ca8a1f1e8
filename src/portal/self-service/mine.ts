import { findPersonByServiceIdentity } from '../../directory/index.ts';
import type { Database } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import type { CardPki } from '../cards/context.ts';
import { KEEP_YEARS } from '../cards/revocation.ts';
import { cardSnapshot, cardsOf, certificatesOf, loadCard, moveCard, type Card, type CardStatus } from '../cards/store.ts';
import { PortalRefused } from '../errors.ts';

/**
 * "Mina sidor": what a signed-in end user does with their own eIDs. No
 * portal role is needed; every rule is that the eID is the holder's own
 * (the same personnummer as the service identity they signed in with).
 */

/** A reserve card is temporary: good this long after activation, and once more this long when extended. */
export const RESERVE_VALID_DAYS = 14;
export const RESERVE_EXTENSION_DAYS = 14;
const DAY_MS = 86_400_000;

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
  readonly reserve: { readonly validUntil: Date | null; readonly extended: boolean } | null;
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

async function reserveValidity(db: Database, card: Card): Promise<MyEid['reserve']> {
  if (card.kind !== 'reserve') return null;
  const [extension] = await db.query<{ valid_until: Date }>('select valid_until from portal_reserve_extension where card_id = $1', [card.id]);
  if (extension) return { validUntil: extension.valid_until, extended: true };
  return { validUntil: card.activatedAt ? new Date(card.activatedAt.getTime() + RESERVE_VALID_DAYS * DAY_MS) : null, extended: false };
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
 * invalid from now), then recorded as a revocation request through the
 * self-service channel, kept ten years like any other, and audited.
 */
export async function reportMyCardLost(context: SelfServiceContext, hsaId: string, cardId: number): Promise<{ revocationId: number; serials: readonly string[] }> {
  const now = context.now();
  const card = await ownCard(context.db, hsaId, cardId);
  if (!REPORTABLE.includes(card.status)) throw new PortalRefused('conflict', `card ${card.id} is ${card.status}: only a card sent to you or in use can be reported lost`);
  const serials = (await certificatesOf(context.db, card.id)).map((c) => c.serial);
  if (serials.length === 0) throw new PortalRefused('conflict', `card ${card.id} has no certificates to revoke`);
  for (const serial of serials) await context.pki.revoke({ serial, reason: 'keyCompromise', invalidityDate: now, actor: hsaId });
  const keepUntil = new Date(now);
  keepUntil.setUTCFullYear(keepUntil.getUTCFullYear() + KEEP_YEARS);
  return context.db.transaction(async (tx) => {
    const [row] = await tx.query<{ id: number }>(
      `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, note, keep_until)
         values ($1, $2, $3, $4, 'self-service', $5, $5, 'lost', $4, null, $6) returning id`,
      [card.id, card.personnummer, serials, hsaId, now, keepUntil],
    );
    const after = await moveCard(tx, card, 'revoked', '', [], now);
    await appendAudit(
      tx,
      { actor: hsaId, role: null, organisation: card.organisation, action: 'self-service.report-lost', target: `card:${card.id}`, before: cardSnapshot(card), after: { ...cardSnapshot(after), revocation: { id: row!.id, serials, cause: 'lost', reason: 'keyCompromise', channel: 'self-service' } } },
      now,
    );
    return { revocationId: row!.id, serials };
  });
}

/** Extends my active reserve card once, by RESERVE_EXTENSION_DAYS from when it would have run out; a second extension is refused. */
export async function extendMyReserveCard(context: SelfServiceContext, hsaId: string, cardId: number): Promise<{ validUntil: Date }> {
  const now = context.now();
  const card = await ownCard(context.db, hsaId, cardId);
  if (card.kind !== 'reserve') throw new PortalRefused('invalid', `card ${card.id} is not a reserve card; only reserve cards are extended`);
  if (card.status !== 'active' || !card.activatedAt) throw new PortalRefused('conflict', `reserve card ${card.id} is ${card.status}: only an active reserve card can be extended`);
  const validity = (await reserveValidity(context.db, card))!;
  if (validity.extended) throw new PortalRefused('conflict', `reserve card ${card.id} was already extended once (until ${validity.validUntil!.toISOString()}); order a new card`);
  if (validity.validUntil!.getTime() <= now.getTime()) throw new PortalRefused('conflict', `reserve card ${card.id} ran out ${validity.validUntil!.toISOString()}; order a new card`);
  const validUntil = new Date(validity.validUntil!.getTime() + RESERVE_EXTENSION_DAYS * DAY_MS);
  return context.db.transaction(async (tx) => {
    const inserted = await tx.query('insert into portal_reserve_extension (card_id, extended_by, extended_at, valid_until) values ($1, $2, $3, $4) on conflict (card_id) do nothing returning card_id', [card.id, hsaId, now, validUntil]);
    if (inserted.length === 0) throw new PortalRefused('conflict', `reserve card ${card.id} was already extended once; order a new card`);
    await appendAudit(tx, { actor: hsaId, role: null, organisation: card.organisation, action: 'self-service.extend-reserve', target: `card:${card.id}`, before: { validUntil: validity.validUntil }, after: { validUntil } }, now);
    return { validUntil };
  });
}
