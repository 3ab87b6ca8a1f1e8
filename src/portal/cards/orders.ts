import { createHash } from 'node:crypto';
import { appendAudit } from '../audit.ts';
import { authorize, isOperator, placeTarget, serviceIdentityHolder, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { cardTarget, type CardContext } from './context.ts';
import { checkEligibility, type CardKind, type Loa } from './eligibility.ts';
import { sniffPhoto } from './photo.ts';
import { recordMovement, type StockLevel } from './stock.ts';
import { CARD_COLUMNS, cardFromRow, cardSnapshot, loadCard, moveCard, OPEN_STATUSES, type Card, type CardStatus } from './store.ts';

export interface OrderRequest {
  readonly kind: CardKind;
  readonly loa: Loa | null;
  /** The service identity the card names. */
  readonly holder: string;
  /** Ordinary cards carry a photo; reserve cards (pre-produced) and test cards do not. */
  readonly photo: Uint8Array | null;
  /** Reserve cards: the office (unit) whose stock the card is drawn from. */
  readonly office: string | null;
}

export interface OrderResult {
  readonly card: Card;
  /** The office's stock after a reserve card was drawn, with `low` set when the issuers should restock. */
  readonly stock: StockLevel | null;
}

/**
 * Orders a card: the holder must be a current service identity in the
 * administrator's scope, eligible for the level, with no open order of the
 * same kind. A reserve card at LoA 3 waits for a second administrator.
 */
export async function orderCard(context: CardContext, by: Principal, request: OrderRequest): Promise<OrderResult> {
  const now = context.now();
  const person = await serviceIdentityHolder(context.db, request.holder);
  const identity = person.serviceIdentities.find((s) => s.hsaId === request.holder)!;
  const target = await placeTarget(context.db, identity.organisation.hsaId, identity.unit?.hsaId ?? null, { protectedIdentity: person.protectedIdentity });
  const recorded = authorize(by, 'order.create', target);
  checkEligibility({ kind: request.kind, loa: request.loa, personnummer: person.personnummer, deceased: person.deceased, now });
  if (request.kind === 'ordinary' && !request.photo) throw new PortalRefused('invalid', 'an ordinary card needs a photo of the holder (JPEG or PNG)');
  if (request.kind !== 'ordinary' && request.photo) throw new PortalRefused('invalid', `a ${request.kind} card carries no photo; leave it out`);
  const photoType = request.photo ? sniffPhoto(request.photo, context.config.photoMaxBytes) : null;
  if (request.kind === 'reserve') {
    if (!request.office) throw new PortalRefused('invalid', 'a reserve card is drawn from an office’s stock: name the office (unit HSA-id)');
    await placeTarget(context.db, identity.organisation.hsaId, request.office);
  } else if (request.office) {
    throw new PortalRefused('invalid', 'only reserve cards come from an office’s stock');
  }
  const status = request.kind === 'reserve' && request.loa === 3 ? 'awaiting-confirmation' : 'ordered';

  return context.db.transaction(async (tx) => {
    const [open] = await tx.query<{ id: number }>(`select id from portal_card where holder_hsa_id = $1 and kind = $2 and status = any($3::text[])`, [request.holder, request.kind, OPEN_STATUSES]);
    if (open) throw new PortalRefused('conflict', `${request.holder} already has an open ${request.kind} order (${open.id}); withdraw it first or wait until it is produced`);
    // The unique index settles a race between two administrators ordering at once.
    const [row] = await tx.query<Parameters<typeof cardFromRow>[0]>(
      `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, office_unit_hsa_id, status, photo, photo_type, ordered_by, ordered_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) returning ${CARD_COLUMNS}`,
      [request.kind, request.loa, person.personnummer, request.holder, identity.organisation.hsaId, identity.unit?.hsaId ?? null, request.office, status, request.photo, photoType, recorded.actor, now],
    ).catch((error: unknown) => {
      if ((error as { code?: string }).code === '23505') throw new PortalRefused('conflict', `${request.holder} already has an open ${request.kind} order`);
      throw error;
    });
    const card = cardFromRow(row!);
    const stock = request.office
      ? await recordMovement(tx, { organisation: card.organisation, office: request.office, kind: 'issued', count: 1, cardId: card.id, actor: recorded.actor }, now, context.config.lowStockThreshold)
      : null;
    const photo = request.photo ? { type: photoType, bytes: request.photo.length, sha256: createHash('sha256').update(request.photo).digest('hex') } : null;
    await appendAudit(tx, { ...recorded, action: 'order.create', target: `card:${card.id}`, before: null, after: { ...cardSnapshot(card), photo } }, now);
    return { card, stock };
  });
}

/** The four-eyes step of a LoA 3 reserve card: a second ID administrator, not the one who ordered. */
export async function confirmReserve(context: CardContext, by: Principal, cardId: number): Promise<Card> {
  const now = context.now();
  const card = await loadCard(context.db, cardId);
  const recorded = authorize(by, 'order.confirm-reserve', await cardTarget(context.db, card));
  if (card.status !== 'awaiting-confirmation') throw new PortalRefused('conflict', `card ${card.id} is ${card.status}; only a reserve card awaiting confirmation can be confirmed`);
  if (isOperator(by)) throw new PortalRefused('forbidden', 'four eyes need two ID administrators; an operator cannot confirm');
  if (recorded.actor === card.orderedBy) throw new PortalRefused('forbidden', 'a second, different ID administrator must confirm a LoA 3 reserve card');
  return context.db.transaction(async (tx) => {
    const confirmed = await moveCard(tx, card, 'ordered', 'confirmed_by = $5, confirmed_at = $3', [recorded.actor], now);
    await appendAudit(tx, { ...recorded, action: 'order.confirm-reserve', target: `card:${card.id}`, before: cardSnapshot(card), after: cardSnapshot(confirmed) }, now);
    return confirmed;
  });
}

/** Withdraws an order until the card is produced; the photo goes at once, a reserve card back to stock. */
export async function withdrawOrder(context: CardContext, by: Principal, cardId: number): Promise<Card> {
  const now = context.now();
  const card = await loadCard(context.db, cardId);
  const recorded = authorize(by, 'order.withdraw', await cardTarget(context.db, card));
  if (!OPEN_STATUSES.includes(card.status)) throw new PortalRefused('conflict', `card ${card.id} is ${card.status}; an order can be withdrawn only until the card is produced`);
  return context.db.transaction(async (tx) => {
    const withdrawn = await moveCard(tx, card, 'withdrawn', 'withdrawn_by = $5, withdrawn_at = $3, photo = null, photo_type = null', [recorded.actor], now);
    if (card.office) await recordMovement(tx, { organisation: card.organisation, office: card.office, kind: 'returned', count: 1, cardId: card.id, actor: recorded.actor }, now, context.config.lowStockThreshold);
    await appendAudit(tx, { ...recorded, action: 'order.withdraw', target: `card:${card.id}`, before: cardSnapshot(card), after: cardSnapshot(withdrawn) }, now);
    return withdrawn;
  });
}

/** An order not yet in production: what the system deletes when it is left too long. */
export const UNFINISHED_STATUSES: readonly CardStatus[] = ['awaiting-confirmation', 'ordered'];

/**
 * The system deletes an order left unfinished (ordered before `orderedBefore`,
 * still awaiting confirmation or ordered, never in a batch): the row and its
 * photo go, a reserve card goes back to its office's stock, and the audit
 * trail records what was deleted and by which job. Null when the order has
 * moved on meanwhile (exported, withdrawn): then nothing changes.
 */
export async function deleteUnfinishedOrder(context: CardContext, system: string, cardId: number, orderedBefore: Date): Promise<Card | null> {
  const now = context.now();
  const actor = `system:${system}`;
  return context.db.transaction(async (tx) => {
    const [row] = await tx.query<Parameters<typeof cardFromRow>[0]>(
      `select ${CARD_COLUMNS} from portal_card where id = $1 and status = any($2::text[]) and batch_id is null and ordered_at <= $3 for update`,
      [cardId, UNFINISHED_STATUSES, orderedBefore],
    );
    if (!row) return null;
    const card = cardFromRow(row);
    if (card.office) {
      // The stock keeps its counts; only the link to the row that goes is dropped.
      await tx.query('update portal_stock_movement set card_id = null where card_id = $1', [card.id]);
      await recordMovement(tx, { organisation: card.organisation, office: card.office, kind: 'returned', count: 1, cardId: null, actor }, now, context.config.lowStockThreshold);
    }
    await tx.query('delete from portal_card where id = $1', [card.id]);
    await appendAudit(tx, { actor, role: null, organisation: card.organisation, action: 'order.delete', target: `card:${card.id}`, before: cardSnapshot(card), after: null }, now);
    return card;
  });
}
