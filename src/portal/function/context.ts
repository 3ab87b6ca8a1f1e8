import { findFunctionObject, type FunctionObject } from '../../directory/index.ts';
import type { Pki } from '../../pki/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { placeTarget } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import type { Target } from '../roles.ts';

/** What the PKI does for function certificates. */
export type FunctionPki = Pick<Pki, 'issueFromCsr' | 'revoke' | 'status'>;

export interface FunctionContext {
  readonly db: Database;
  readonly pki: FunctionPki;
  readonly now: () => Date;
}

/** A function object still in the directory, and where it sits as a permission target. */
export async function functionObjectTarget(db: Queryable, hsaId: string): Promise<{ functionObject: FunctionObject; target: Target }> {
  const functionObject = await findFunctionObject(db, hsaId);
  if (!functionObject) throw new PortalRefused('not-found', `no current function object with HSA-id ${hsaId}`);
  // A unit closed since the directory sync leaves only organisation-wide roles.
  const target = await placeTarget(db, functionObject.organisationHsaId, functionObject.unitHsaId).catch(() => placeTarget(db, functionObject.organisationHsaId, null));
  return { functionObject, target };
}
