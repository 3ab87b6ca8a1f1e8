import { findPerson, unitAncestry } from '../../directory/index.ts';
import type { MobileEidRecord, OrderService } from '../../authn/index.ts';
import type { Pki } from '../../pki/index.ts';
import type { Database, Queryable } from '../../store/index.ts';
import type { PortalConfig } from '../config.ts';
import type { Target } from '../roles.ts';
import type { Card } from './store.ts';

/** What the PKI does for the card lifecycle. */
export type CardPki = Pick<Pki, 'issueOnHold' | 'releaseIssuanceHold' | 'revoke' | 'status'>;

export interface CardContext {
  readonly db: Database;
  readonly pki: CardPki;
  readonly now: () => Date;
  readonly config: PortalConfig;
  /** The person's mobile eIDs as the authentication service records them (absent without it). */
  readonly mobileEidsOf?: (personnummer: string) => Promise<MobileEidRecord[]>;
  /** The authentication service's orders: a card unlock rests on the holder's mobile eID login (absent without it). */
  readonly orders?: OrderService;
}

/**
 * Where a card sits, as a permission target. Unlike an order, this must work
 * after the holder left or the unit closed (a card is still revoked then):
 * a unit no longer in the directory leaves only organisation-wide roles.
 */
export async function cardTarget(db: Queryable, card: Card, protectedIdentity?: boolean): Promise<Target> {
  const isProtected = protectedIdentity ?? (await findPerson(db, card.personnummer, { mayViewProtectedIdentities: true }))?.protectedIdentity ?? false;
  const ancestry = card.unit ? await unitAncestry(db, card.unit) : null;
  return { organisation: card.organisation, units: ancestry && ancestry.organisationHsaId === card.organisation ? ancestry.units : [], protectedIdentity: isProtected };
}
