import { findOrganisation, findPerson } from '../../directory/index.ts';
import type { Pki } from '../../pki/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import { unitChain } from '../access.ts';
import type { PortalConfig } from '../config.ts';
import type { Target } from '../roles.ts';
import type { Card } from './store.ts';

/** What the PKI does for the card lifecycle. */
export type CardPki = Pick<Pki, 'issueOnHold' | 'releaseHold' | 'revoke' | 'status'>;

export interface CardContext {
  readonly db: Database;
  readonly pki: CardPki;
  readonly now: () => Date;
  readonly config: PortalConfig;
}

/**
 * Where a card sits, as a permission target. Unlike an order, this must work
 * after the holder left or the unit closed (a card is still revoked then):
 * a unit no longer in the directory leaves only organisation-wide roles.
 */
export async function cardTarget(db: Queryable, card: Card): Promise<Target> {
  const person = await findPerson(db, card.personnummer, { mayViewProtectedIdentities: true });
  const organisation = await findOrganisation(db, card.organisation);
  const units = organisation && organisation.organisation.hsaId === card.organisation ? unitChain(organisation.units, card.unit) : [];
  return { organisation: card.organisation, units: card.unit && units[0] === card.unit ? units : [], protectedIdentity: person?.protectedIdentity ?? false };
}
