import { findPerson, findPersonByServiceIdentity, searchPersons, type PersonView } from '../directory/index.ts';
import type { Queryable } from '../store/index.ts';
import { authorizeAny, isOperator, personTargets, type Principal } from './access.ts';
import { cardTarget, type CardPki } from './cards/context.ts';
import { cardsOf, certificatesOf, type Card } from './cards/store.ts';
import { PortalRefused } from './errors.ts';
import { may, type Target } from './roles.ts';

export interface PersonHit {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly serviceIdentities: readonly { readonly hsaId: string; readonly organisation: string; readonly organisationName: string }[];
}

/** Whether the principal holds the right to see this person at all (a role in one of the places they work or hold a card). */
async function targetsOf(db: Queryable, person: PersonView, cards: readonly Card[]): Promise<Target[]> {
  return [...(await personTargets(db, person)), ...(await Promise.all(cards.map((card) => cardTarget(db, card))))];
}

const seesProtected = (principal: Principal) => isOperator(principal) || principal.assignments.some((a) => a.role === 'protected-identity-viewer');

/**
 * Search by personnummer, HSA-id or name; only persons the principal may view
 * are returned (the rest, protected identities included, are not hinted at).
 */
export async function searchPeople(db: Queryable, principal: Principal, query: string, limit = 25): Promise<PersonHit[]> {
  const viewer = { mayViewProtectedIdentities: seesProtected(principal) };
  const text = query.trim();
  let persons: PersonView[];
  if (/^\d{8}-?\d{4}$/.test(text)) persons = [await findPerson(db, text.replace('-', ''), viewer)].filter((p): p is PersonView => p !== null);
  else if (/^SE\d+-[A-Z0-9]+$/i.test(text)) persons = [await findPersonByServiceIdentity(db, text.toUpperCase(), viewer)].filter((p): p is PersonView => p !== null);
  else {
    const summaries = await searchPersons(db, text, viewer, limit * 4);
    persons = (await Promise.all(summaries.map((s) => findPerson(db, s.personnummer, viewer)))).filter((p): p is PersonView => p !== null);
  }
  const hits: PersonHit[] = [];
  for (const person of persons) {
    if (hits.length >= limit) break;
    const targets = await targetsOf(db, person, isOperator(principal) ? [] : await cardsOf(db, person.personnummer));
    if (!isOperator(principal) && !targets.some((t) => may(principal, 'person.view', t))) continue;
    hits.push({
      personnummer: person.personnummer,
      givenName: person.givenName,
      surname: person.surname,
      serviceIdentities: person.serviceIdentities.map((s) => ({ hsaId: s.hsaId, organisation: s.organisation.hsaId, organisationName: s.organisation.name })),
    });
  }
  return hits;
}

export interface CertificateView {
  readonly slot: string;
  readonly serial: string;
  readonly profile: string;
  readonly status: string;
  readonly notAfter: Date | null;
  readonly revokedAt: Date | null;
  readonly reason: string | null;
  readonly invalidityDate: Date | null;
}

export interface PersonPage {
  readonly person: PersonView;
  readonly cards: readonly (Card & { readonly certificates: readonly CertificateView[] })[];
}

/** A person's page: the directory's facts, service identities and commissions, and every card with its certificates' status. */
export async function viewPerson(db: Queryable, pki: Pick<CardPki, 'status'>, principal: Principal, personnummer: string): Promise<PersonPage> {
  const person = await findPerson(db, personnummer, { mayViewProtectedIdentities: true });
  const cards = person ? await cardsOf(db, personnummer) : [];
  const notFound = new PortalRefused('not-found', `no person ${personnummer} that you may view`);
  if (!person) throw notFound;
  try {
    authorizeAny(principal, 'person.view', await targetsOf(db, person, cards));
  } catch (error) {
    // Someone without the right learns nothing, not even that the person exists.
    if (error instanceof PortalRefused && error.kind === 'forbidden') throw notFound;
    throw error;
  }
  const withCertificates = await Promise.all(
    cards.map(async (card) => ({
      ...card,
      certificates: await Promise.all(
        (await certificatesOf(db, card.id)).map(async (c) => {
          const status = await pki.status(c.serial);
          return { ...c, status: status?.status ?? 'unknown', notAfter: status?.notAfter ?? null, revokedAt: status?.revokedAt ?? null, reason: status?.reason ?? null, invalidityDate: status?.invalidityDate ?? null };
        }),
      ),
    })),
  );
  return { person, cards: withCertificates };
}
