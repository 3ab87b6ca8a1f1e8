import type { Queryable } from '../store/index.ts';
import type { Commission, CommissionRight, FunctionObject, Organisation, Person, Unit, Viewer } from './model.ts';
import { escapeLike, queryWords } from './names.ts';
import { COMMISSION_COLUMNS, FUNCTION_OBJECT_COLUMNS } from './store-sql.ts';
import type { EntityKind } from './sync-plan.ts';

/**
 * Reads for the IdP and the portal. Protected-identity persons are left out
 * in SQL unless the viewer holds the right, so no caller can forget to hide them.
 */

export interface NamedRef {
  readonly hsaId: string;
  readonly name: string;
}

export interface CommissionView {
  readonly hsaId: string;
  readonly name: string;
  readonly purpose: string;
  readonly rights: readonly CommissionRight[];
  readonly careProvider: NamedRef & { readonly organisationNumber: string };
  readonly careUnit: NamedRef;
}

export interface ServiceIdentityView {
  readonly hsaId: string;
  readonly organisation: NamedRef & { readonly organisationNumber: string };
  readonly unit: NamedRef | null;
  readonly titleCode: string | null;
  readonly mail: string | null;
  readonly telephone: string | null;
  readonly mobile: string | null;
  readonly commissions: readonly CommissionView[];
}

/** A person with their current service identities and commissions. */
export interface PersonView extends Person {
  readonly serviceIdentities: readonly ServiceIdentityView[];
}

const PERSON_COLUMNS = `p.personnummer, p.given_name as "givenName", p.surname, p.display_name as "displayName",
  p.protected_identity as "protectedIdentity", p.deceased, p.new_personnummer as "newPersonnummer", p.licences,
  p.licence_specialities as "licenceSpecialities", p.group_prescription_codes as "groupPrescriptionCodes",
  p.personal_prescription_code as "personalPrescriptionCode", p.missing_from_catalogue_since as "missingFromCatalogueSince",
  p.missing_from_register_since as "missingFromRegisterSince"`;

// One round trip per person: the login path must stay within a few ms at 500,000 persons.
const SERVICE_IDENTITIES = `coalesce((
  select json_agg(json_build_object(
      'hsaId', s.hsa_id,
      'organisation', json_build_object('hsaId', o.hsa_id, 'name', o.name, 'organisationNumber', o.organisation_number),
      'unit', case when u.hsa_id is null then null else json_build_object('hsaId', u.hsa_id, 'name', u.name) end,
      'titleCode', s.title_code, 'mail', s.mail, 'telephone', s.telephone, 'mobile', s.mobile,
      'commissions', coalesce((
        select json_agg(json_build_object(
            'hsaId', c.hsa_id, 'name', c.name, 'purpose', c.purpose, 'rights', c.rights,
            'careProvider', json_build_object('hsaId', cp.hsa_id, 'name', cp.name, 'organisationNumber', cp.organisation_number),
            'careUnit', json_build_object('hsaId', cu.hsa_id, 'name', cu.name)) order by c.hsa_id)
          from directory_commission c
          join directory_organisation cp on cp.hsa_id = c.care_provider_hsa_id
          join directory_unit cu on cu.hsa_id = c.care_unit_hsa_id
         where c.service_identity_hsa_id = s.hsa_id and c.valid_to is null), '[]'::json)
    ) order by s.hsa_id)
    from directory_service_identity s
    join directory_organisation o on o.hsa_id = s.organisation_hsa_id
    left join directory_unit u on u.hsa_id = s.unit_hsa_id
   where s.person_id = p.id and s.valid_to is null), '[]'::json) as "serviceIdentities"`;

const VISIBLE = (param: number) => `(not p.protected_identity or $${param}::boolean)`;

/** The person with this personnummer, or null (also when hidden from this viewer). */
export async function findPerson(db: Queryable, personnummer: string, viewer: Viewer): Promise<PersonView | null> {
  const [row] = await db.query<PersonView>(
    `select ${PERSON_COLUMNS}, ${SERVICE_IDENTITIES} from directory_person p where p.personnummer = $1 and ${VISIBLE(2)}`,
    [personnummer, viewer.mayViewProtectedIdentities],
    // Every login runs it: planning this query costs PostgreSQL more than running it.
    { prepare: true },
  );
  return row ?? null;
}

/** The person holding this service identity (current or ended), or null. */
export async function findPersonByServiceIdentity(db: Queryable, hsaId: string, viewer: Viewer): Promise<PersonView | null> {
  const [row] = await db.query<PersonView>(
    `select ${PERSON_COLUMNS}, ${SERVICE_IDENTITIES} from directory_person p
      where p.id = (select person_id from directory_service_identity where hsa_id = $1) and ${VISIBLE(2)}`,
    [hsaId, viewer.mayViewProtectedIdentities],
  );
  return row ?? null;
}

export interface CommissionHolder {
  readonly commission: CommissionView;
  readonly serviceIdentityHsaId: string;
  readonly person: PersonView;
}

/** A current commission with the person who holds it, or null. */
export async function findCommission(db: Queryable, hsaId: string, viewer: Viewer): Promise<CommissionHolder | null> {
  const [row] = await db.query<{ serviceIdentityHsaId: string }>(
    `select service_identity_hsa_id as "serviceIdentityHsaId" from directory_commission where hsa_id = $1 and valid_to is null`,
    [hsaId],
  );
  if (!row) return null;
  const person = await findPersonByServiceIdentity(db, row.serviceIdentityHsaId, viewer);
  const commission = person?.serviceIdentities.flatMap((s) => s.commissions).find((c) => c.hsaId === hsaId);
  return person && commission ? { commission, serviceIdentityHsaId: row.serviceIdentityHsaId, person } : null;
}

export type HsaIdLookup =
  | { readonly kind: 'service_identity'; readonly person: PersonView }
  | ({ readonly kind: 'commission' } & CommissionHolder)
  | { readonly kind: 'organisation'; readonly organisation: Organisation }
  | { readonly kind: 'unit'; readonly unit: Unit }
  | { readonly kind: 'function_object'; readonly functionObject: FunctionObject };

/** Whatever this HSA-id names, for `directory show` and the portal's search box. */
export async function findByHsaId(db: Queryable, hsaId: string, viewer: Viewer): Promise<HsaIdLookup | null> {
  const person = await findPersonByServiceIdentity(db, hsaId, viewer);
  if (person) return { kind: 'service_identity', person };
  const commission = await findCommission(db, hsaId, viewer);
  if (commission) return { kind: 'commission', ...commission };
  const [organisation] = await db.query<Organisation>(
    `select hsa_id as "hsaId", organisation_number as "organisationNumber", name, care_provider as "careProvider" from directory_organisation where hsa_id = $1`,
    [hsaId],
  );
  if (organisation) return { kind: 'organisation', organisation };
  const [unit] = await db.query<Unit>(
    `select hsa_id as "hsaId", organisation_hsa_id as "organisationHsaId", parent_unit_hsa_id as "parentUnitHsaId", name, care_unit as "careUnit"
       from directory_unit where hsa_id = $1`,
    [hsaId],
  );
  if (unit) return { kind: 'unit', unit };
  const [functionObject] = await db.query<FunctionObject>(`select ${FUNCTION_OBJECT_COLUMNS} from directory_function_object f where f.hsa_id = $1`, [hsaId]);
  return functionObject ? { kind: 'function_object', functionObject } : null;
}

/** A function object still in the directory (for ordering its certificates), or null. */
export async function findFunctionObject(db: Queryable, hsaId: string): Promise<FunctionObject | null> {
  const [functionObject] = await db.query<FunctionObject>(`select ${FUNCTION_OBJECT_COLUMNS} from directory_function_object f where f.hsa_id = $1 and f.valid_to is null`, [hsaId]);
  return functionObject ?? null;
}

export interface OrganisationView {
  readonly organisation: Organisation;
  /** Current units, parents before children. */
  readonly units: readonly Unit[];
  readonly functionObjects: readonly FunctionObject[];
}

/** An organisation by HSA-id or organisation number, with its current unit tree. */
export async function findOrganisation(db: Queryable, hsaIdOrNumber: string): Promise<OrganisationView | null> {
  const [organisation] = await db.query<Organisation>(
    `select hsa_id as "hsaId", organisation_number as "organisationNumber", name, care_provider as "careProvider"
       from directory_organisation where (hsa_id = $1 or organisation_number = $1) and valid_to is null order by hsa_id limit 1`,
    [hsaIdOrNumber],
  );
  if (!organisation) return null;
  const units = await db.query<Unit>(
    `with recursive tree as (
       select u.*, 0 as depth from directory_unit u where u.organisation_hsa_id = $1 and u.parent_unit_hsa_id is null and u.valid_to is null
       union all
       select u.*, tree.depth + 1 from directory_unit u join tree on u.parent_unit_hsa_id = tree.hsa_id where u.valid_to is null)
     select hsa_id as "hsaId", organisation_hsa_id as "organisationHsaId", parent_unit_hsa_id as "parentUnitHsaId", name, care_unit as "careUnit"
       from tree order by depth, name, hsa_id`,
    [organisation.hsaId],
  );
  const functionObjects = await db.query<FunctionObject>(
    `select ${FUNCTION_OBJECT_COLUMNS} from directory_function_object f where f.organisation_hsa_id = $1 and f.valid_to is null order by f.hsa_id`,
    [organisation.hsaId],
  );
  return { organisation, units, functionObjects };
}

export interface PersonSummary {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly displayName: string | null;
}

const SUMMARY_COLUMNS = `p.personnummer, p.given_name as "givenName", p.surname, p.display_name as "displayName"`;

/** Persons with a current service identity at the organisation, by surname. */
export async function listOrganisationPersons(db: Queryable, organisationHsaId: string, viewer: Viewer, limit = 100, offset = 0): Promise<PersonSummary[]> {
  return db.query<PersonSummary>(
    `select ${SUMMARY_COLUMNS} from directory_person p
      where exists (select 1 from directory_service_identity s where s.person_id = p.id and s.organisation_hsa_id = $1 and s.valid_to is null)
        and ${VISIBLE(2)}
      order by p.surname, p.given_name, p.personnummer limit $3 offset $4`,
    [organisationHsaId, viewer.mayViewProtectedIdentities, limit, offset],
  );
}

/**
 * Persons whose name words start with every word of the query, ignoring case
 * the Swedish way ("ÅSA" finds Åsa, but "a" does not find "Å": they are different letters),
 * by surname, given name and personnummer.
 *
 * One query word drives (migration 0202). It expands to the distinct name
 * words it begins, and for each of those the index yields persons already in
 * search order, so at most `limit` matches per name word are read however
 * many persons share it. The other words are checked with LIKE on
 * search_name. With several words the one that begins the fewest rows drives
 * (counted up to a cap), so "per wal" reads the Wallins, not every Persson.
 * A prefix that begins very many different words (one or two letters, say)
 * reads its matches whole and keeps the first `limit`.
 */
export async function searchPersons(db: Queryable, query: string, viewer: Viewer, limit = 50): Promise<PersonSummary[]> {
  const words = searchWords(query);
  if (words.length === 0 || limit < 1) return [];
  const driving = words.length === 1 ? words[0]! : await rarestWord(db, words);
  const upper = `${driving}${LAST_CODE_POINT}`;
  const expanded = await db.query<{ word: string }>(
    `with recursive words (word) as (
       (select word from directory_person_name_word where word >= $1 and word < $2 order by word limit 1)
       union all
       select (select n.word from directory_person_name_word n where n.word > words.word and n.word < $2 order by n.word limit 1)
         from words where words.word is not null)
     select word from words where word is not null limit $3`,
    [driving, upper, MAX_STREAMS + 1],
  );
  if (expanded.length === 0) return [];
  const others = words.filter((word) => word !== driving).map((word) => `% ${escapeLike(word)}%`);
  const params: unknown[] = [viewer.mayViewProtectedIdentities, limit, ...others];
  const filter = `${VISIBLE(1)}${others.map((_, i) => ` and p.search_name like $${i + 3}`).join('')}`;
  // Each name-word row is checked against its person one by one ("offset 0" keeps the planner from turning this
  // into a join that filters every person first): the stream then stops as soon as it has enough.
  const personPasses = `cross join lateral (select from directory_person p where p.id = n.person_id and ${filter} offset 0) checked`;
  if (expanded.length <= MAX_STREAMS) {
    // One branch per name word, its word given as a value: the planner then knows how many persons share it.
    const streams = expanded.map(
      ({ word }) => `(select n.person_id from directory_person_name_word n ${personPasses}
          where n.word = $${params.push(word)} order by n.surname, n.given_name, n.personnummer limit $2)`,
    );
    return db.query<PersonSummary>(
      `select ${SUMMARY_COLUMNS} from (${streams.join(' union all ')}) hit join directory_person p on p.id = hit.person_id
        group by p.id order by p.surname, p.given_name, p.personnummer limit $2`,
      params,
    );
  }
  // A prefix of very many different words (one or two letters, say): few matches are read whole and the first
  // kept; many are found soonest by walking every person in search order.
  const [first] = await countWords(db, [driving], COUNT_CAP);
  if (first! < COUNT_CAP) {
    return db.query<PersonSummary>(
      `select ${SUMMARY_COLUMNS} from (select n.person_id from directory_person_name_word n ${personPasses}
          where n.word >= $${params.push(driving)} and n.word < $${params.push(upper)}) hit join directory_person p on p.id = hit.person_id
        group by p.id order by p.surname, p.given_name, p.personnummer limit $2`,
      params,
    );
  }
  return db.query<PersonSummary>(
    `select ${SUMMARY_COLUMNS} from directory_person p where p.search_name like $${params.push(`% ${escapeLike(driving)}%`)} and ${filter}
      order by p.surname, p.given_name, p.personnummer limit $2`,
    params,
  );
}

/** Name words one query word may expand to and still be read word by word, in order. */
const MAX_STREAMS = 64;

/** Above every character, so [word, word + this) is exactly the words that start with word (C collation). */
const LAST_CODE_POINT = '\u{10FFFF}';

/** Name-word rows counted per query word, up to this: enough to tell a rare word from a common one, cheaply. */
const COUNT_CAP = 5_000;

/**
 * The query word that begins the fewest name-word rows; the longest on a tie.
 * Counted up to a cap, raised once when every word reaches it: "per and"
 * must see that "and" (Anders, Andersson) is far rarer than "per" (which
 * may begin hundreds of thousands of rows).
 */
async function rarestWord(db: Queryable, words: readonly string[]): Promise<string> {
  let counts = await countWords(db, words, COUNT_CAP);
  if (counts.every((count) => count >= COUNT_CAP)) counts = await countWords(db, words, COUNT_CAP * 10);
  return words.reduce((best, word, i) => (counts[i]! < counts[words.indexOf(best)]! ? word : best), words[0]!);
}

/** How many name-word rows each word begins, each counted up to the cap. */
async function countWords(db: Queryable, words: readonly string[], cap: number): Promise<number[]> {
  const params: unknown[] = [cap];
  // Each range given as values, so the planner reads the index only as far as the cap.
  const counts = words.map(
    (word) =>
      `(select count(*)::int from (select 1 from directory_person_name_word where word >= $${params.push(word)} and word < $${params.push(`${word}${LAST_CODE_POINT}`)} limit $1) c)`,
  );
  const [row] = await db.query<{ counts: number[] }>(`select array[${counts.join(', ')}] as counts`, params);
  return row!.counts;
}

/**
 * The query's words, longest first; a word that begins another is dropped,
 * since every name word the longer one matches the shorter one matches too.
 */
function searchWords(query: string): string[] {
  // Control characters are never part of a name (and PostgreSQL text cannot hold NUL).
  const words = [...new Set(queryWords(query.replace(/\p{Cc}/gu, ' ')))];
  return words.filter((word) => !words.some((other) => other !== word && other.startsWith(word))).sort((a, b) => [...b].length - [...a].length);
}

/**
 * What the IdP needs at login: the person, every current service identity and
 * commission with care provider and unit names. The person is logging in as
 * themselves, so protected identity does not hide them here; the flag is
 * returned so the IdP releases nothing it should not.
 */
export async function loginAttributes(db: Queryable, personnummer: string): Promise<PersonView | null> {
  return findPerson(db, personnummer, { mayViewProtectedIdentities: true });
}

export interface FactPeriod {
  readonly facts: Record<string, unknown>;
  readonly validFrom: Date;
  readonly validTo: Date | null;
}

/** Every version of an entity's facts, oldest first: when each became true and when it stopped. */
export async function factHistory(db: Queryable, entity: EntityKind, key: string): Promise<FactPeriod[]> {
  return db.query<FactPeriod>(
    `select facts, valid_from as "validFrom", valid_to as "validTo" from directory_history where entity = $1 and entity_key = $2 order by valid_from, id`,
    [entity, key],
  );
}

/** Commissions in force at a care unit (for the portal's unit view). */
export async function listUnitCommissions(db: Queryable, careUnitHsaId: string): Promise<Commission[]> {
  return db.query<Commission>(`select ${COMMISSION_COLUMNS} from directory_commission c where c.care_unit_hsa_id = $1 and c.valid_to is null order by c.hsa_id`, [
    careUnitHsaId,
  ]);
}

export interface MissingPerson extends PersonSummary {
  readonly missingFromCatalogueSince: Date | null;
  readonly missingFromRegisterSince: Date | null;
}

/**
 * Persons missing from the catalogue or the population register, longest
 * missing first: the portal's basis for revoking their eIDs.
 */
export async function listMissingPersons(db: Queryable, viewer: Viewer, limit = 100, offset = 0): Promise<MissingPerson[]> {
  return db.query<MissingPerson>(
    `select ${SUMMARY_COLUMNS}, p.missing_from_catalogue_since as "missingFromCatalogueSince", p.missing_from_register_since as "missingFromRegisterSince"
       from directory_person p
      where (p.missing_from_catalogue_since is not null or p.missing_from_register_since is not null) and ${VISIBLE(1)}
      order by least(p.missing_from_catalogue_since, p.missing_from_register_since), p.personnummer limit $2 offset $3`,
    [viewer.mayViewProtectedIdentities, limit, offset],
  );
}

/**
 * A current unit and the current units above it, nearest first, with the
 * organisation they belong to; null when the unit is not (or no longer)
 * current. One round trip: the portal's permission checks ask this per request.
 */
export async function unitAncestry(db: Queryable, unitHsaId: string): Promise<{ organisationHsaId: string; units: string[] } | null> {
  const rows = await db.query<{ hsa_id: string; organisation_hsa_id: string }>(
    `with recursive chain as (
       select hsa_id, organisation_hsa_id, parent_unit_hsa_id, 0 as depth from directory_unit where hsa_id = $1 and valid_to is null
       union all
       select u.hsa_id, u.organisation_hsa_id, u.parent_unit_hsa_id, chain.depth + 1 from directory_unit u join chain on u.hsa_id = chain.parent_unit_hsa_id
        where u.valid_to is null and chain.depth < 50)
     select hsa_id, organisation_hsa_id from chain order by depth`,
    [unitHsaId],
  );
  return rows.length ? { organisationHsaId: rows[0]!.organisation_hsa_id, units: rows.map((r) => r.hsa_id) } : null;
}

/** Whether a current organisation has this HSA-id. */
export async function isCurrentOrganisation(db: Queryable, hsaId: string): Promise<boolean> {
  const rows = await db.query('select 1 from directory_organisation where hsa_id = $1 and valid_to is null', [hsaId]);
  return rows.length > 0;
}

export interface ServiceIdentityPlace {
  readonly personnummer: string;
  readonly hsaId: string;
  readonly organisationHsaId: string;
  readonly organisationName: string;
  readonly unitHsaId: string | null;
}

/** Where each of these persons currently works (service identity, organisation, unit), in one round trip. */
export async function serviceIdentityPlaces(db: Queryable, personnummers: readonly string[]): Promise<ServiceIdentityPlace[]> {
  if (personnummers.length === 0) return [];
  return db.query<ServiceIdentityPlace>(
    `select p.personnummer, s.hsa_id as "hsaId", s.organisation_hsa_id as "organisationHsaId", o.name as "organisationName", s.unit_hsa_id as "unitHsaId"
       from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
       join directory_organisation o on o.hsa_id = s.organisation_hsa_id
      where p.personnummer = any($1::text[]) order by p.personnummer, s.hsa_id`,
    [personnummers],
  );
}

/** A unit and every unit below it, closed ones too (their history still belongs to the subtree). */
export async function unitSubtree(db: Queryable, unitHsaId: string): Promise<string[]> {
  const rows = await db.query<{ hsa_id: string }>(
    `with recursive tree as (
       select hsa_id, 0 as depth from directory_unit where hsa_id = $1
       union all
       select u.hsa_id, tree.depth + 1 from directory_unit u join tree on u.parent_unit_hsa_id = tree.hsa_id where tree.depth < 50)
     select distinct hsa_id from tree`,
    [unitHsaId],
  );
  return rows.map((r) => r.hsa_id);
}

/** Which of these personnummer belong to persons with a protected identity (for hiding them in listings). */
export async function protectedAmong(db: Queryable, personnummers: readonly string[]): Promise<Set<string>> {
  if (personnummers.length === 0) return new Set();
  const rows = await db.query<{ personnummer: string }>('select personnummer from directory_person where protected_identity and personnummer = any($1::text[])', [[...new Set(personnummers)]]);
  return new Set(rows.map((r) => r.personnummer));
}
