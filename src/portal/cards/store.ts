import type { Queryable } from '../../store/index.ts';
import { PortalRefused } from '../errors.ts';
import type { CardKind, Loa } from './eligibility.ts';

export const CARD_STATUSES = ['awaiting-confirmation', 'ordered', 'in-production', 'sent', 'active', 'revoked', 'withdrawn'] as const;
export type CardStatus = (typeof CARD_STATUSES)[number];
/** Statuses in which the card is still an order: it may be withdrawn, and blocks a duplicate. */
export const OPEN_STATUSES: readonly CardStatus[] = ['awaiting-confirmation', 'ordered', 'in-production'];

export interface Card {
  readonly id: number;
  readonly kind: CardKind;
  readonly loa: Loa | null;
  readonly personnummer: string;
  readonly holder: string;
  readonly organisation: string;
  readonly unit: string | null;
  readonly office: string | null;
  readonly status: CardStatus;
  readonly hasPhoto: boolean;
  readonly orderedBy: string;
  readonly orderedAt: Date;
  readonly confirmedBy: string | null;
  readonly batchId: number | null;
  readonly cardNumber: string | null;
  readonly activatedBy: string | null;
  readonly activatedAt: Date | null;
}

export interface CardCertificate {
  readonly slot: string;
  readonly serial: string;
  readonly profile: string;
}

interface CardRow {
  id: number;
  kind: CardKind;
  loa: Loa | null;
  personnummer: string;
  holder_hsa_id: string;
  organisation_hsa_id: string;
  unit_hsa_id: string | null;
  office_unit_hsa_id: string | null;
  status: CardStatus;
  has_photo: boolean;
  ordered_by: string;
  ordered_at: Date;
  confirmed_by: string | null;
  batch_id: number | null;
  card_number: string | null;
  activated_by: string | null;
  activated_at: Date | null;
}

export const CARD_COLUMNS = `id, kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, office_unit_hsa_id, status, photo is not null as has_photo,
  ordered_by, ordered_at, confirmed_by, batch_id, card_number, activated_by, activated_at`;

export function cardFromRow(row: CardRow): Card {
  return {
    id: row.id,
    kind: row.kind,
    loa: row.loa,
    personnummer: row.personnummer,
    holder: row.holder_hsa_id,
    organisation: row.organisation_hsa_id,
    unit: row.unit_hsa_id,
    office: row.office_unit_hsa_id,
    status: row.status,
    hasPhoto: row.has_photo,
    orderedBy: row.ordered_by,
    orderedAt: row.ordered_at,
    confirmedBy: row.confirmed_by,
    batchId: row.batch_id,
    cardNumber: row.card_number,
    activatedBy: row.activated_by,
    activatedAt: row.activated_at,
  };
}

/** The card, locked for the rest of the transaction when `forUpdate`. */
export async function loadCard(db: Queryable, id: number, forUpdate = false): Promise<Card> {
  const [row] = await db.query<CardRow>(`select ${CARD_COLUMNS} from portal_card where id = $1${forUpdate ? ' for update' : ''}`, [id]);
  if (!row) throw new PortalRefused('not-found', `no card or order ${id}`);
  return cardFromRow(row);
}

export async function cardsOf(db: Queryable, personnummer: string): Promise<Card[]> {
  const rows = await db.query<CardRow>(`select ${CARD_COLUMNS} from portal_card where personnummer = $1 order by id`, [personnummer]);
  return rows.map(cardFromRow);
}

export async function certificatesOf(db: Queryable, cardId: number): Promise<CardCertificate[]> {
  return db.query<CardCertificate>('select slot, serial, profile from portal_card_certificate where card_id = $1 order by slot', [cardId]);
}

/** What the audit trail keeps of a card (never the photo). */
export function cardSnapshot(card: Card): Record<string, unknown> {
  const { hasPhoto, ...rest } = card;
  return { ...rest, photo: hasPhoto };
}

/** Moves a card on only from the status it was read in; refuses (nothing changed) when someone else moved it meanwhile. */
export async function moveCard(tx: Queryable, card: Card, to: CardStatus, set: string, params: readonly unknown[], now: Date): Promise<Card> {
  const [row] = await tx.query<CardRow>(
    `update portal_card set status = $2, updated_at = $3${set ? `, ${set}` : ''} where id = $1 and status = $4 returning ${CARD_COLUMNS}`,
    [card.id, to, now, card.status, ...params],
  );
  if (!row) throw new PortalRefused('conflict', `card ${card.id} changed meanwhile; reload and try again`);
  return cardFromRow(row);
}
