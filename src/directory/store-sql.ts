import type { Queryable } from '../store/index.ts';
import type { Commission, FunctionObject, Organisation, ServiceIdentity, Unit } from './model.ts';
import { searchKey } from './names.ts';
import type { CataloguePerson, CurrentPerson, CurrentState, EntityKind, SyncPlan } from './sync-plan.ts';

/** Rows per statement: large enough to be fast, small enough for PGlite's message size. */
const BATCH = 2_000;

/** Which part of the directory a run needs to compare against. */
export interface StateScope {
  /** Null: every person, service identity and commission (a complete run). */
  readonly personnummer: readonly string[] | null;
  readonly serviceIdentityHsaIds: readonly string[] | null;
  readonly commissionHsaIds: readonly string[] | null;
}

export const WHOLE_DIRECTORY: StateScope = { personnummer: null, serviceIdentityHsaIds: null, commissionHsaIds: null };

/** Reads the current rows a plan compares against. Organisations, units and function objects are few and always read whole. */
export async function loadCurrentState(db: Queryable, scope: StateScope): Promise<CurrentState> {
  const filter = (column: string, keys: readonly string[] | null, n: number) => (keys === null ? 'true' : `${column} = any($${n}::text[])`);
  const params = (keys: readonly string[] | null) => (keys === null ? [] : [keys]);
  // One after the other: inside a transaction they share one connection.
  const organisations = await db.query<Organisation>(`select hsa_id as "hsaId", organisation_number as "organisationNumber", name, care_provider as "careProvider"
      from directory_organisation where valid_to is null`);
  const units = await db.query<Unit>(`select hsa_id as "hsaId", organisation_hsa_id as "organisationHsaId", parent_unit_hsa_id as "parentUnitHsaId", name, care_unit as "careUnit"
      from directory_unit where valid_to is null`);
  const persons = await db.query<CurrentPerson>(
      `select personnummer, given_name as "givenName", surname, display_name as "displayName", licences,
              licence_specialities as "licenceSpecialities", group_prescription_codes as "groupPrescriptionCodes",
              personal_prescription_code as "personalPrescriptionCode",
              missing_from_catalogue_since is not null as "missingFromCatalogue", register_checked_at is not null as "namesFromRegister"
         from directory_person where ${filter('personnummer', scope.personnummer, 1)}`,
      params(scope.personnummer),
  );
  const serviceIdentities = await db.query<ServiceIdentity>(
      `select s.hsa_id as "hsaId", p.personnummer, s.organisation_hsa_id as "organisationHsaId", s.unit_hsa_id as "unitHsaId",
              s.title_code as "titleCode", s.mail, s.telephone, s.mobile
         from directory_service_identity s join directory_person p on p.id = s.person_id
        where s.valid_to is null and ${filter('s.hsa_id', scope.serviceIdentityHsaIds, 1)}`,
      params(scope.serviceIdentityHsaIds),
  );
  const commissions = await db.query<Commission>(
      `select ${COMMISSION_COLUMNS} from directory_commission c where c.valid_to is null and ${filter('c.hsa_id', scope.commissionHsaIds, 1)}`,
      params(scope.commissionHsaIds),
  );
  const functionObjects = await db.query<FunctionObject>(`select ${FUNCTION_OBJECT_COLUMNS} from directory_function_object f where f.valid_to is null`);
  const byKey = <T extends { hsaId: string }>(rows: T[]) => new Map(rows.map((row) => [row.hsaId, row]));
  return {
    organisations: byKey(organisations),
    units: byKey(units),
    persons: new Map(persons.map((p) => [p.personnummer, p])),
    serviceIdentities: byKey(serviceIdentities),
    commissions: byKey(commissions),
    functionObjects: byKey(functionObjects),
  };
}

export const COMMISSION_COLUMNS = `c.hsa_id as "hsaId", c.service_identity_hsa_id as "serviceIdentityHsaId", c.name, c.purpose, c.rights,
  c.care_provider_hsa_id as "careProviderHsaId", c.care_unit_hsa_id as "careUnitHsaId"`;
export const FUNCTION_OBJECT_COLUMNS = `f.hsa_id as "hsaId", f.organisation_hsa_id as "organisationHsaId", f.unit_hsa_id as "unitHsaId", f.name, f.kind,
  f.dns_names as "dnsNames", f.mail`;

/**
 * Writes a plan. Call it inside one transaction: either the whole plan holds
 * or none of it. Re-appearing entities get a new valid_from; vanished ones
 * keep their row with valid_to set.
 */
export async function applyPlan(tx: Queryable, plan: SyncPlan, at: Date, runId: number | null): Promise<void> {
  const upserted = <T>(p: { added: T[]; changed: { after: T }[] }) => ({ added: p.added, changed: p.changed.map((c) => c.after) });

  await upsertWithHistory(
    tx,
    'organisation',
    upserted(plan.organisations),
    (rows) => JSON.stringify(rows),
    `insert into directory_organisation as t (hsa_id, organisation_number, name, care_provider, valid_from, updated_at)
       select r."hsaId", r."organisationNumber", r.name, r."careProvider", $2, $2
         from jsonb_to_recordset($1::jsonb) as r("hsaId" text, "organisationNumber" text, name text, "careProvider" boolean)
       on conflict (hsa_id) do update set organisation_number = excluded.organisation_number, name = excluded.name,
         care_provider = excluded.care_provider, ${REVIVE}`,
    at,
    runId,
  );
  await upsertWithHistory(
    tx,
    'unit',
    upserted(plan.units),
    (rows) => JSON.stringify(rows),
    `insert into directory_unit as t (hsa_id, organisation_hsa_id, parent_unit_hsa_id, name, care_unit, valid_from, updated_at)
       select r."hsaId", r."organisationHsaId", r."parentUnitHsaId", r.name, r."careUnit", $2, $2
         from jsonb_to_recordset($1::jsonb) as r("hsaId" text, "organisationHsaId" text, "parentUnitHsaId" text, name text, "careUnit" boolean)
       on conflict (hsa_id) do update set organisation_hsa_id = excluded.organisation_hsa_id, parent_unit_hsa_id = excluded.parent_unit_hsa_id,
         name = excluded.name, care_unit = excluded.care_unit, ${REVIVE}`,
    at,
    runId,
  );
  await upsertWithHistory(
    tx,
    'person',
    { added: plan.persons.added, changed: [...plan.persons.changed.map((c) => c.after), ...plan.persons.ended] },
    (rows) => JSON.stringify(rows.map(withSearchName)),
    `insert into directory_person as t (personnummer, given_name, surname, display_name, search_name, licences, licence_specialities,
              group_prescription_codes, personal_prescription_code, missing_from_catalogue_since, created_at, updated_at)
       select r.personnummer, r."givenName", r.surname, r."displayName", r."searchName", r.licences, r."licenceSpecialities",
              r."groupPrescriptionCodes", r."personalPrescriptionCode", case when r."missingFromCatalogue" then $2::timestamptz end, $2, $2
         from jsonb_to_recordset($1::jsonb) as r(personnummer text, "givenName" text, surname text, "displayName" text, "searchName" text,
              licences text[], "licenceSpecialities" text[], "groupPrescriptionCodes" text[], "personalPrescriptionCode" text, "missingFromCatalogue" boolean)
       on conflict (personnummer) do update set given_name = excluded.given_name, surname = excluded.surname, display_name = excluded.display_name,
         search_name = excluded.search_name, licences = excluded.licences, licence_specialities = excluded.licence_specialities,
         group_prescription_codes = excluded.group_prescription_codes, personal_prescription_code = excluded.personal_prescription_code,
         missing_from_catalogue_since = case when excluded.missing_from_catalogue_since is null then null
                                             else coalesce(t.missing_from_catalogue_since, excluded.missing_from_catalogue_since) end,
         updated_at = excluded.updated_at`,
    at,
    runId,
  );
  await upsertWithHistory(
    tx,
    'service_identity',
    upserted(plan.serviceIdentities),
    (rows) => JSON.stringify(rows),
    `insert into directory_service_identity as t (hsa_id, person_id, organisation_hsa_id, unit_hsa_id, title_code, mail, telephone, mobile, valid_from, updated_at)
       select r."hsaId", p.id, r."organisationHsaId", r."unitHsaId", r."titleCode", r.mail, r.telephone, r.mobile, $2, $2
         from jsonb_to_recordset($1::jsonb) as r("hsaId" text, personnummer text, "organisationHsaId" text, "unitHsaId" text,
              "titleCode" text, mail text, telephone text, mobile text)
         join directory_person p on p.personnummer = r.personnummer
       on conflict (hsa_id) do update set person_id = excluded.person_id, organisation_hsa_id = excluded.organisation_hsa_id,
         unit_hsa_id = excluded.unit_hsa_id, title_code = excluded.title_code, mail = excluded.mail, telephone = excluded.telephone,
         mobile = excluded.mobile, ${REVIVE}`,
    at,
    runId,
  );
  await upsertWithHistory(
    tx,
    'commission',
    upserted(plan.commissions),
    (rows) => JSON.stringify(rows),
    `insert into directory_commission as t (hsa_id, service_identity_hsa_id, name, purpose, rights, care_provider_hsa_id, care_unit_hsa_id, valid_from, updated_at)
       select r."hsaId", r."serviceIdentityHsaId", r.name, r.purpose, r.rights, r."careProviderHsaId", r."careUnitHsaId", $2, $2
         from jsonb_to_recordset($1::jsonb) as r("hsaId" text, "serviceIdentityHsaId" text, name text, purpose text, rights jsonb,
              "careProviderHsaId" text, "careUnitHsaId" text)
       on conflict (hsa_id) do update set service_identity_hsa_id = excluded.service_identity_hsa_id, name = excluded.name,
         purpose = excluded.purpose, rights = excluded.rights, care_provider_hsa_id = excluded.care_provider_hsa_id,
         care_unit_hsa_id = excluded.care_unit_hsa_id, ${REVIVE}`,
    at,
    runId,
  );
  await upsertWithHistory(
    tx,
    'function_object',
    upserted(plan.functionObjects),
    (rows) => JSON.stringify(rows),
    `insert into directory_function_object as t (hsa_id, organisation_hsa_id, unit_hsa_id, name, kind, dns_names, mail, valid_from, updated_at)
       select r."hsaId", r."organisationHsaId", r."unitHsaId", r.name, r.kind, r."dnsNames", r.mail, $2, $2
         from jsonb_to_recordset($1::jsonb) as r("hsaId" text, "organisationHsaId" text, "unitHsaId" text, name text, kind text, "dnsNames" text[], mail text)
       on conflict (hsa_id) do update set organisation_hsa_id = excluded.organisation_hsa_id, unit_hsa_id = excluded.unit_hsa_id,
         name = excluded.name, kind = excluded.kind, dns_names = excluded.dns_names, mail = excluded.mail, ${REVIVE}`,
    at,
    runId,
  );
  for (const [entity, entityPlan] of [
    ['organisation', plan.organisations],
    ['unit', plan.units],
    ['service_identity', plan.serviceIdentities],
    ['commission', plan.commissions],
    ['function_object', plan.functionObjects],
  ] as const) {
    await inBatches(
      entityPlan.ended.map((e) => e.hsaId),
      async (keys) => {
        await tx.query(`update ${HISTORY_SOURCE[entity].table} set valid_to = $2, updated_at = $2 where hsa_id = any($1::text[]) and valid_to is null`, [keys, at]);
        await closeHistory(tx, entity, keys, at);
      },
    );
  }
}

/**
 * Writes one entity's rows (`upsert` takes the rows as JSON in $1 and the
 * time in $2) and, in the same statement, opens their new history rows from
 * what was written (RETURNING): the rows are not read back. The open history
 * rows of changed entities are closed first. Added ones have none: an entity
 * that is not current had its history closed when it ended. Skipping them
 * matters: a lookup per added key into a history table growing within the
 * transaction (its statistics still say empty) made a full sync superlinear.
 */
async function upsertWithHistory<T extends object>(
  tx: Queryable,
  entity: EntityKind,
  rows: { readonly added: readonly T[]; readonly changed: readonly T[] },
  toJson: (rows: T[]) => string,
  upsert: string,
  at: Date,
  runId: number | null,
): Promise<void> {
  const source = HISTORY_SOURCE[entity];
  const keyOf = entity === 'person' ? (row: T) => (row as unknown as { personnummer: string }).personnummer : (row: T) => (row as unknown as { hsaId: string }).hsaId;
  const changed = new Set(rows.changed);
  await inBatches([...rows.changed, ...rows.added], async (batch) => {
    const closing = batch.filter((row) => changed.has(row)).map(keyOf);
    if (closing.length > 0) await closeHistory(tx, entity, closing, at);
    await tx.query(
      `with written as (${upsert} returning t.*)
       insert into directory_history (entity, entity_key, facts, valid_from, run_id)
       select $3, w.${source.key}, to_jsonb(w) ${NOT_FACTS}, $2, $4::bigint from written w`,
      [toJson(batch), at, entity, runId],
    );
  });
}

async function closeHistory(tx: Queryable, entity: EntityKind, keys: readonly string[], at: Date): Promise<void> {
  await tx.query(`update directory_history set valid_to = $3 where entity = $1 and entity_key = any($2::text[]) and valid_to is null`, [entity, keys, at]);
}

// A row that comes back after it had ended starts a new period; a current one keeps its start.
const REVIVE = `valid_from = case when t.valid_to is null then t.valid_from else excluded.valid_from end, valid_to = null, updated_at = excluded.updated_at`;

function withSearchName(person: CataloguePerson): CataloguePerson & { searchName: string } {
  return { ...person, searchName: searchKey(person.givenName, person.surname, person.displayName) };
}

async function inBatches<T>(rows: readonly T[], write: (batch: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH) await write(rows.slice(i, i + BATCH));
}

const HISTORY_SOURCE: Record<EntityKind, { table: string; key: string; current: string }> = {
  organisation: { table: 'directory_organisation', key: 'hsa_id', current: 'valid_to is null' },
  unit: { table: 'directory_unit', key: 'hsa_id', current: 'valid_to is null' },
  person: { table: 'directory_person', key: 'personnummer', current: 'true' },
  service_identity: { table: 'directory_service_identity', key: 'hsa_id', current: 'valid_to is null' },
  commission: { table: 'directory_commission', key: 'hsa_id', current: 'valid_to is null' },
  function_object: { table: 'directory_function_object', key: 'hsa_id', current: 'valid_to is null' },
};

/** Bookkeeping columns are not facts: a snapshot differs only when a fact did. */
const NOT_FACTS = `- 'id' - 'person_id' - 'search_name' - 'valid_from' - 'valid_to' - 'created_at' - 'updated_at' - 'register_checked_at'`;

/**
 * Closes the open history row of every touched entity and opens a new one
 * with its facts as they are now; `endedKeys` are only closed.
 */
export async function recordHistory(
  tx: Queryable,
  entity: EntityKind,
  changedKeys: readonly string[],
  endedKeys: readonly string[],
  at: Date,
  runId: number | null,
): Promise<void> {
  const source = HISTORY_SOURCE[entity];
  await inBatches([...changedKeys, ...endedKeys], (keys) =>
    tx.query(`update directory_history set valid_to = $3 where entity = $1 and entity_key = any($2::text[]) and valid_to is null`, [entity, keys, at]),
  );
  await inBatches(changedKeys, (keys) =>
    tx.query(
      `insert into directory_history (entity, entity_key, facts, valid_from, run_id)
       select $1, t.${source.key}, to_jsonb(t) ${NOT_FACTS}, $3, $4
         from ${source.table} t where t.${source.key} = any($2::text[]) and ${source.current}`,
      [entity, keys, at, runId],
    ),
  );
}

export interface RunRecord {
  readonly source: 'catalogue' | 'register';
  readonly mode: string;
  readonly dryRun: boolean;
  readonly startedAt: Date;
}

export async function startRun(tx: Queryable, run: RunRecord): Promise<number> {
  const [row] = await tx.query<{ id: number }>(
    `insert into directory_sync_run (source, mode, dry_run, started_at, report) values ($1, $2, $3, $4, '{}') returning id`,
    [run.source, run.mode, run.dryRun, run.startedAt],
  );
  return row!.id;
}

export async function finishRun(tx: Queryable, runId: number, finishedAt: Date, watermark: string | null, report: unknown): Promise<void> {
  await tx.query(`update directory_sync_run set finished_at = $2, watermark = $3, report = $4::jsonb where id = $1`, [runId, finishedAt, watermark, JSON.stringify(report)]);
}

/** The watermark of the last applied catalogue run, where the next incremental run starts. */
export async function lastWatermark(db: Queryable): Promise<string | null> {
  const [row] = await db.query<{ watermark: string | null }>(
    `select watermark from directory_sync_run where source = 'catalogue' and not dry_run and finished_at is not null and watermark is not null
      order by started_at desc, id desc limit 1`,
  );
  return row?.watermark ?? null;
}
