import type { MobileEidRecord } from '../authn/index.ts';
import { eidCertificatesInForce, eidCertificatesIssued, isInForce, type EidCertificate } from '../pki/index.ts';
import { findPerson, findPersonByServiceIdentity, searchPersons, serviceIdentityPlaces, unitAncestry, type PersonSummary, type PersonView } from '../directory/index.ts';
import type { Queryable } from '../store/index.ts';
import { authorizeAny, isOperator, personTargets, type Principal } from './access.ts';
import { cardTarget, type CardPki } from './cards/context.ts';
import { cardsOf, certificatesOf, type Card } from './cards/store.ts';
import { PortalRefused } from './errors.ts';
import { may, type Target } from './roles.ts';
import { cardPlaces, checkedThrough, HOLDER_PAGE, ofUnknownHolders, recordedUnknownHolders, type CardPlace } from './unknown-holders.ts';

export interface PersonHit {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly serviceIdentities: readonly { readonly hsaId: string; readonly organisation: string; readonly organisationName: string }[];
}

/** Whether the principal holds the right to see this person at all (a role in one of the places they work or hold a card). */
async function targetsOf(db: Queryable, person: PersonView, cards: readonly Card[]): Promise<Target[]> {
  return [...(await personTargets(db, person)), ...(await Promise.all(cards.map((card) => cardTarget(db, card, person.protectedIdentity))))];
}

const seesProtected = (principal: Principal) => isOperator(principal) || principal.assignments.some((a) => a.role === 'protected-identity-viewer');

/**
 * Search by personnummer, HSA-id or name; only persons the principal may view
 * are returned (the rest, protected identities included, are not hinted at).
 * A person is in scope through a current service identity or a card of theirs
 * in an organisation or unit the principal administers. Three round trips
 * for any number of candidates, plus one per distinct unit.
 */
export async function searchPeople(db: Queryable, principal: Principal, query: string, limit = 25): Promise<PersonHit[]> {
  const viewer = { mayViewProtectedIdentities: seesProtected(principal) };
  const text = query.trim();
  let candidates: (PersonSummary & { protectedIdentity: boolean })[];
  if (/^\d{8}-?\d{4}$/.test(text) || /^SE\d+-[A-Z0-9]+$/i.test(text)) {
    const person = /^SE/i.test(text) ? await findPersonByServiceIdentity(db, text.toUpperCase(), viewer) : await findPerson(db, text.replace('-', ''), viewer);
    candidates = person ? [person] : [];
  } else {
    // The summaries say nothing of protection: those are hidden by the directory unless the viewer may see some.
    const summaries = await searchPersons(db, text, viewer, limit * 4);
    const hidden = viewer.mayViewProtectedIdentities ? new Set((await searchPersons(db, text, { mayViewProtectedIdentities: false }, limit * 4)).map((p) => p.personnummer)) : null;
    candidates = summaries.map((p) => ({ ...p, protectedIdentity: hidden !== null && !hidden.has(p.personnummer) }));
  }
  const personnummers = candidates.map((c) => c.personnummer);
  const places = await serviceIdentityPlaces(db, personnummers);
  const cardPlaces = personnummers.length
    ? await db.query<{ personnummer: string; organisation_hsa_id: string; unit_hsa_id: string | null }>('select distinct personnummer, organisation_hsa_id, unit_hsa_id from portal_card where personnummer = any($1::text[])', [personnummers])
    : [];
  // A unit that is no longer current leaves only organisation-wide roles.
  const ancestry = new Map<string, Promise<string[]>>();
  const unitsOf = (unit: string | null): Promise<string[]> => {
    if (!unit) return Promise.resolve([]);
    let found = ancestry.get(unit);
    if (!found) ancestry.set(unit, (found = unitAncestry(db, unit).then((a) => a?.units ?? [])));
    return found;
  };
  const hits: PersonHit[] = [];
  for (const candidate of candidates) {
    if (hits.length >= limit) break;
    const own = places.filter((p) => p.personnummer === candidate.personnummer);
    const where = [...own.map((p) => ({ organisation: p.organisationHsaId, unit: p.unitHsaId })), ...cardPlaces.filter((c) => c.personnummer === candidate.personnummer).map((c) => ({ organisation: c.organisation_hsa_id, unit: c.unit_hsa_id }))];
    let allowed = false;
    if (isOperator(principal)) allowed = true;
    else {
      for (const place of where) {
        const target: Target = { organisation: place.organisation, units: await unitsOf(place.unit), protectedIdentity: candidate.protectedIdentity };
        if ((allowed = may(principal, 'person.view', target))) break;
      }
    }
    if (!allowed) continue;
    hits.push({
      personnummer: candidate.personnummer,
      givenName: candidate.givenName,
      surname: candidate.surname,
      serviceIdentities: own.map((p) => ({ hsaId: p.hsaId, organisation: p.organisationHsaId, organisationName: p.organisationName })),
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

/**
 * Certificates from other CAs (in SITHS: Telia's) may sit on a card too. The
 * portal's card record and the manufacturer's return file carry only the keys
 * this PKI certifies, so the page says where those are revoked instead.
 */
export const THIRD_PARTY_NOTE = {
  sv: 'Kortet kan också bära certifikat från en annan utfärdare (tredjepartscertifikat). Portalen ser och spärrar inte dem: de spärras hos den utfärdaren.',
  en: 'The card may also carry certificates from another issuer (third-party certificates). The portal neither sees nor revokes them: they are revoked with that issuer.',
} as const;

export interface PersonPage {
  readonly person: PersonView;
  readonly cards: readonly (Card & { readonly certificates: readonly CertificateView[] })[];
  /** The person's mobile eIDs with status (active, revoked, expired), newest first. */
  readonly mobileEids: readonly MobileEidRecord[];
  readonly thirdPartyNote: typeof THIRD_PARTY_NOTE;
}

/** A person's page: the directory's facts, service identities and commissions, and every card with its certificates' status. */
export async function viewPerson(
  db: Queryable,
  pki: Pick<CardPki, 'status'>,
  principal: Principal,
  personnummer: string,
  mobileEidsOf: (personnummer: string) => Promise<MobileEidRecord[]> = async () => [],
): Promise<PersonPage> {
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
  return { person, cards: withCertificates, mobileEids: await mobileEidsOf(personnummer), thirdPartyNote: THIRD_PARTY_NOTE };
}

export interface UnknownHolderCertificate {
  readonly serial: string;
  readonly caId: string;
  readonly subject: string;
  readonly identifier: string | null;
  readonly notAfter: Date;
  readonly cardId: number | null;
}

/**
 * Certificates in force from the person and mobile CAs whose subject
 * serialNumber names no person (personnummer) and no HSA-id in the directory:
 * nobody known holds them, so an ID administrator should revoke them.
 *
 * Scope: a certificate with no known holder has no directory place, so it is
 * placed by the card it was issued for (`portal_card`'s organisation and
 * unit): an ID administrator with `revocation.register` there sees it. A
 * certificate issued outside the portal (a mobile eID, an operator's
 * `tillit pki issue`) belongs to no organisation and is listed to operators
 * only.
 *
 * A holder once known stays known (the directory deletes nobody), so each
 * certificate needs checking once: the job portal-unknown-holders checks them
 * in the order of issue and records the unknown ones (unknown-holders.ts).
 * Here the recorded ones are checked again, and every certificate issued
 * since the job got to is checked as before, so the list is exact without
 * waiting for the job; before its first run that is every certificate (as
 * slow as checking them all). Exact for `at` no earlier than the job's last
 * run, which drops certificates expired or revoked by then.
 */
export async function unknownHolderCertificates(db: Queryable, principal: Principal, organisation: string, at: Date, limit = 200): Promise<UnknownHolderCertificate[]> {
  const operator = isOperator(principal);
  if (!operator && !principal.assignments.some((a) => a.organisation === organisation)) throw new PortalRefused('forbidden', `you hold no role in ${organisation}`);
  // Read before the recorded ones: a run of the job in between then shows a certificate twice (kept once below), never not at all.
  const through = await checkedThrough(db);
  const ancestry = new Map<string, readonly string[]>();
  const inScope = async (place: CardPlace | undefined): Promise<boolean> => {
    if (!place) return operator;
    if (place.organisation !== organisation) return false;
    if (operator) return true;
    if (place.unit && !ancestry.has(place.unit)) ancestry.set(place.unit, (await unitAncestry(db, place.unit))?.units ?? []);
    return may(principal, 'revocation.register', { organisation, units: place.unit ? ancestry.get(place.unit)! : [], protectedIdentity: false });
  };
  const found = new Map<string, UnknownHolderCertificate>();
  // The recorded ones, by serial, until `limit` in scope: any later one sorts after all of them.
  for (let after = '', recorded = 0; recorded < limit; ) {
    const page = await recordedUnknownHolders(db, organisation, { onNoCard: operator, afterSerial: after, limit: HOLDER_PAGE });
    if (page.length === 0) break;
    after = page.at(-1)!.serial;
    const placeOf = new Map(page.map((r) => [r.serial, r.place]));
    const inForce = await eidCertificatesInForce(db, at, { serials: page.map((r) => r.serial) });
    for (const certificate of await ofUnknownHolders(db, inForce)) {
      const place = placeOf.get(certificate.serial);
      if (await inScope(place)) {
        found.set(certificate.serial, listed(certificate, place?.cardId ?? null));
        recorded++;
      }
    }
  }
  // Those issued since the job got to (every certificate before its first run), checked here, all of them.
  for (let position = through; ; ) {
    const page = await eidCertificatesIssued(db, { after: position, limit: HOLDER_PAGE });
    if (page.length === 0) break;
    position = page.at(-1)!.position;
    const unknown = await ofUnknownHolders(db, page.filter((c) => isInForce(c, at)));
    const placeOf = await cardPlaces(db, unknown.map((c) => c.serial));
    for (const certificate of unknown) {
      const place = placeOf.get(certificate.serial);
      if (await inScope(place)) found.set(certificate.serial, listed(certificate, place?.cardId ?? null));
    }
  }
  return [...found.values()].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0)).slice(0, limit);
}

const listed = (c: EidCertificate, cardId: number | null): UnknownHolderCertificate => ({ serial: c.serial, caId: c.caId, subject: c.subject, identifier: c.identifier, notAfter: c.notAfter, cardId });
