import { appendAudit } from '../audit.ts';
import { authorize, isOperator, serviceIdentityHolder, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { findFunctionObject, type FunctionObject } from '../../directory/index.ts';
import type { Queryable } from '../../store/index.ts';
import { functionObjectTarget, type FunctionContext } from './context.ts';

export interface OrdererAuthorisation {
  readonly id: number;
  readonly functionObject: string;
  readonly orderer: string;
  readonly authorisedBy: string;
  readonly authorisedAt: Date;
}

interface Row {
  id: number;
  function_object_hsa_id: string;
  orderer_hsa_id: string;
  authorised_by: string;
  authorised_at: Date;
}
const fromRow = (r: Row): OrdererAuthorisation => ({ id: r.id, functionObject: r.function_object_hsa_id, orderer: r.orderer_hsa_id, authorisedBy: r.authorised_by, authorisedAt: r.authorised_at });
const COLUMNS = 'id, function_object_hsa_id, orderer_hsa_id, authorised_by, authorised_at';

/**
 * The responsible issuer (or a deputy, by delegation) lets a service identity
 * order certificates for one function object: the same right as appointing a
 * function-certificate orderer in the object's place.
 */
export async function authoriseOrderer(context: FunctionContext, by: Principal, functionObjectHsaId: string, ordererHsaId: string): Promise<OrdererAuthorisation> {
  const now = context.now();
  const { functionObject, target } = await functionObjectTarget(context.db, functionObjectHsaId);
  const recorded = authorize(by, 'role.appoint', { ...target, role: 'function-certificate-orderer' });
  await serviceIdentityHolder(context.db, ordererHsaId);
  return context.db.transaction(async (tx) => {
    const [existing] = await tx.query(`select 1 from portal_function_orderer where function_object_hsa_id = $1 and orderer_hsa_id = $2 and removed_at is null`, [functionObject.hsaId, ordererHsaId]);
    if (existing) throw new PortalRefused('conflict', `${ordererHsaId} is already authorised to order for ${functionObject.hsaId}`);
    const [row] = await tx.query<Row>(
      `insert into portal_function_orderer (function_object_hsa_id, organisation_hsa_id, orderer_hsa_id, authorised_by, authorised_at) values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
      [functionObject.hsaId, functionObject.organisationHsaId, ordererHsaId, recorded.actor, now],
    );
    const authorisation = fromRow(row!);
    await appendAudit(tx, { ...recorded, action: 'function-orderer.authorise', target: `function-object:${functionObject.hsaId}`, before: null, after: authorisation }, now);
    return authorisation;
  });
}

/** Ends an orderer's authorisation for one function object (kept, with who ended it). */
export async function removeOrderer(context: FunctionContext, by: Principal, id: number): Promise<void> {
  const now = context.now();
  const [row] = await context.db.query<Row>(`select ${COLUMNS} from portal_function_orderer where id = $1 and removed_at is null`, [id]);
  if (!row) throw new PortalRefused('not-found', `no current orderer authorisation ${id}`);
  const { target } = await functionObjectTarget(context.db, row.function_object_hsa_id);
  const recorded = authorize(by, 'role.remove', { ...target, role: 'function-certificate-orderer' });
  await context.db.transaction(async (tx) => {
    const changed = await tx.query('update portal_function_orderer set removed_by = $2, removed_at = $3 where id = $1 and removed_at is null returning id', [id, recorded.actor, now]);
    if (changed.length === 0) throw new PortalRefused('conflict', `orderer authorisation ${id} was removed meanwhile`);
    await appendAudit(tx, { ...recorded, action: 'function-orderer.remove', target: `function-object:${row.function_object_hsa_id}`, before: fromRow(row), after: null }, now);
  });
}

/** Whether the principal may order for the object: the orderer role in force for its place, and the object's own authorisation. */
export async function authorizeOrdering(db: Queryable, by: Principal, functionObjectHsaId: string) {
  const placed = await functionObjectTarget(db, functionObjectHsaId);
  const recorded = authorize(by, 'function-certificate.order', placed.target);
  if (!isOperator(by)) {
    const [row] = await db.query('select 1 from portal_function_orderer where function_object_hsa_id = $1 and orderer_hsa_id = $2 and removed_at is null', [functionObjectHsaId, by.hsaId]);
    if (!row) throw new PortalRefused('forbidden', `you are not authorised to order certificates for function object ${functionObjectHsaId}; ask the responsible issuer`);
  }
  return { ...placed, recorded };
}

/** The function objects a person may order for that are still in the directory, matching `search` (HSA-id, name or DNS name, any case) when given. */
export async function authorisedObjects(db: Queryable, ordererHsaId: string, search = ''): Promise<(OrdererAuthorisation & { object: FunctionObject })[]> {
  const rows = await db.query<Row>(`select ${COLUMNS} from portal_function_orderer where orderer_hsa_id = $1 and removed_at is null order by function_object_hsa_id`, [ordererHsaId]);
  const words = search.toLowerCase().split(/\s+/).filter(Boolean);
  const found: (OrdererAuthorisation & { object: FunctionObject })[] = [];
  for (const row of rows) {
    const object = await findFunctionObject(db, row.function_object_hsa_id);
    if (!object) continue;
    const text = [object.hsaId, object.name, ...object.dnsNames, object.mail ?? ''].join(' ').toLowerCase();
    if (words.every((w) => text.includes(w))) found.push({ ...fromRow(row), object });
  }
  return found;
}
