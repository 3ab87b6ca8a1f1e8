import type { Queryable } from '../../store/index.ts';
import { appendAudit } from '../audit.ts';
import { authorize, placeTarget, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import type { CardContext } from './context.ts';

export interface StockLevel {
  readonly organisation: string;
  readonly office: string;
  readonly received: number;
  readonly issued: number;
  readonly returned: number;
  readonly discarded: number;
  readonly remaining: number;
  /** At or below the configured threshold: the issuers should order more reserve cards. */
  readonly low: boolean;
}

export async function stockLevel(db: Queryable, organisation: string, office: string, lowThreshold: number): Promise<StockLevel> {
  const rows = await db.query<{ kind: string; total: number }>(
    `select kind, sum(count)::int as total from portal_stock_movement where organisation_hsa_id = $1 and office_unit_hsa_id = $2 group by kind`,
    [organisation, office],
  );
  const of = (kind: string) => rows.find((r) => r.kind === kind)?.total ?? 0;
  const [received, issued, returned, discarded] = [of('received'), of('issued'), of('returned'), of('discarded')];
  const remaining = received - issued + returned - discarded;
  return { organisation, office, received, issued, returned, discarded, remaining, low: remaining <= lowThreshold };
}

/** Writes one movement; the office's advisory lock keeps two transactions from drawing the last card together. */
export async function recordMovement(
  tx: Queryable,
  movement: { organisation: string; office: string; kind: 'received' | 'issued' | 'returned' | 'discarded'; count: number; cardId: number | null; actor: string },
  now: Date,
  lowThreshold: number,
): Promise<StockLevel> {
  await tx.query(`select pg_advisory_xact_lock(hashtext('portal-stock:' || $1 || ':' || $2))`, [movement.organisation, movement.office]);
  const before = await stockLevel(tx, movement.organisation, movement.office, lowThreshold);
  if ((movement.kind === 'issued' || movement.kind === 'discarded') && movement.count > before.remaining) {
    throw new PortalRefused('conflict', `office ${movement.office} has ${before.remaining} reserve card(s) in stock; ${movement.count} needed`);
  }
  await tx.query(
    `insert into portal_stock_movement (organisation_hsa_id, office_unit_hsa_id, kind, count, card_id, actor, at) values ($1, $2, $3, $4, $5, $6, $7)`,
    [movement.organisation, movement.office, movement.kind, movement.count, movement.cardId, movement.actor, now],
  );
  return stockLevel(tx, movement.organisation, movement.office, lowThreshold);
}

/** Reserve cards received from the manufacturer, or discarded (damaged, lost, expired), at an office. */
export async function adjustStock(context: CardContext, by: Principal, input: { organisation: string; office: string; kind: 'received' | 'discarded'; count: number }): Promise<StockLevel> {
  if (!Number.isInteger(input.count) || input.count < 1 || input.count > 10_000) throw new PortalRefused('invalid', 'the count is a whole number from 1 to 10000');
  const recorded = authorize(by, 'stock.manage', await placeTarget(context.db, input.organisation, input.office));
  const now = context.now();
  return context.db.transaction(async (tx) => {
    const before = await stockLevel(tx, input.organisation, input.office, context.config.lowStockThreshold);
    const after = await recordMovement(tx, { ...input, cardId: null, actor: recorded.actor }, now, context.config.lowStockThreshold);
    await appendAudit(tx, { ...recorded, action: `stock.${input.kind}`, target: `office:${input.office}`, before, after }, now);
    return after;
  });
}
