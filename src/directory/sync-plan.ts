import type { Commission, FunctionObject, Organisation, ServiceIdentity, Unit } from './model.ts';

/**
 * Planning a catalogue sync: compare what the catalogue says (a batch of
 * records) with what the directory holds, and list what to add, change and
 * end. Pure: the LDAP edge fills the batch, the SQL edge applies the plan,
 * and a dry run only prints it.
 */

/** The facts about a person that the catalogue owns (names only until the register has answered). */
export interface CataloguePerson {
  readonly personnummer: string;
  readonly givenName: string;
  readonly surname: string;
  readonly displayName: string | null;
  readonly licences: readonly string[];
  readonly licenceSpecialities: readonly string[];
  readonly groupPrescriptionCodes: readonly string[];
  readonly personalPrescriptionCode: string | null;
  readonly missingFromCatalogue: boolean;
}

/** One employee entry of the catalogue: a service identity with the person facts it carries. */
export interface CatalogueEmployee extends ServiceIdentity {
  readonly person: Omit<CataloguePerson, 'missingFromCatalogue' | 'personnummer'>;
}

export interface CatalogueBatch {
  readonly organisations: readonly Organisation[];
  readonly units: readonly Unit[];
  readonly employees: readonly CatalogueEmployee[];
  readonly commissions: readonly Commission[];
  readonly functionObjects: readonly FunctionObject[];
}

export type EntityKind = 'organisation' | 'unit' | 'person' | 'service_identity' | 'commission' | 'function_object';

/** The HSA-ids present in the source; for a complete run, anything current but absent here has vanished. */
export interface PresentKeys {
  readonly organisations: ReadonlySet<string>;
  readonly units: ReadonlySet<string>;
  readonly serviceIdentities: ReadonlySet<string>;
  readonly commissions: ReadonlySet<string>;
  readonly functionObjects: ReadonlySet<string>;
}

/** What the directory holds now (current rows only), keyed by HSA-id or personnummer. */
export interface CurrentState {
  readonly organisations: ReadonlyMap<string, Organisation>;
  readonly units: ReadonlyMap<string, Unit>;
  readonly persons: ReadonlyMap<string, CurrentPerson>;
  readonly serviceIdentities: ReadonlyMap<string, ServiceIdentity>;
  readonly commissions: ReadonlyMap<string, Commission>;
  readonly functionObjects: ReadonlyMap<string, FunctionObject>;
}

export interface CurrentPerson extends CataloguePerson {
  /** Names come from the register once it has answered; the catalogue then leaves them alone. */
  readonly namesFromRegister: boolean;
}

export interface Change<T> {
  readonly key: string;
  readonly before: T;
  readonly after: T;
  readonly fields: readonly string[];
}

export interface EntityPlan<T> {
  readonly added: T[];
  readonly changed: Change<T>[];
  /** Current in the directory, gone from the source: gets valid_to (persons: marked missing). */
  readonly ended: T[];
}

export interface Refusal {
  readonly entity: EntityKind;
  /** The HSA-id, personnummer or, when neither could be read, the LDAP DN. */
  readonly key: string;
  readonly reason: string;
}

export interface SyncPlan {
  readonly organisations: EntityPlan<Organisation>;
  readonly units: EntityPlan<Unit>;
  readonly persons: EntityPlan<CataloguePerson>;
  readonly serviceIdentities: EntityPlan<ServiceIdentity>;
  readonly commissions: EntityPlan<Commission>;
  readonly functionObjects: EntityPlan<FunctionObject>;
  readonly refused: Refusal[];
}

const emptyPlan = <T>(): EntityPlan<T> => ({ added: [], changed: [], ended: [] });

/**
 * Plans a sync. `present` is given for a complete run (full or reconcile):
 * then current entities missing from it end, and persons left without any
 * current service identity are marked missing from the catalogue.
 * References are checked against the batch and the directory together; an
 * entry that points at something neither holds is refused, and so is
 * everything that hangs on a refused entry.
 */
export function planSync(current: CurrentState, source: CatalogueBatch, present?: PresentKeys): SyncPlan {
  const refused: Refusal[] = [];
  const batch = withoutDuplicates(source, refused);
  const plan: SyncPlan = {
    organisations: emptyPlan(),
    units: emptyPlan(),
    persons: emptyPlan(),
    serviceIdentities: emptyPlan(),
    commissions: emptyPlan(),
    functionObjects: emptyPlan(),
    refused,
  };
  const gone = (key: string, keys: ReadonlySet<string> | undefined) => keys !== undefined && !keys.has(key);

  const organisations = mergeKnown(current.organisations, batch.organisations, present?.organisations);
  diffInto(plan.organisations, current.organisations, batch.organisations);

  const units = mergeKnown(current.units, batch.units, present?.units);
  for (const unit of batch.units) {
    const problem = !organisations.has(unit.organisationHsaId)
      ? `its organisation ${unit.organisationHsaId} is not in the directory`
      : unit.parentUnitHsaId !== null && !units.has(unit.parentUnitHsaId)
        ? `its parent unit ${unit.parentUnitHsaId} is not in the directory`
        : null;
    if (problem) {
      refused.push({ entity: 'unit', key: unit.hsaId, reason: problem });
      units.delete(unit.hsaId);
    }
  }
  diffInto(plan.units, current.units, batch.units.filter((u) => units.has(u.hsaId)));

  const employees = batch.employees.filter((employee) => {
    const problem = !organisations.has(employee.organisationHsaId)
      ? `its organisation ${employee.organisationHsaId} is not in the directory`
      : employee.unitHsaId !== null && !units.has(employee.unitHsaId)
        ? `its unit ${employee.unitHsaId} is not in the directory`
        : null;
    if (problem) refused.push({ entity: 'service_identity', key: employee.hsaId, reason: problem });
    return problem === null;
  });
  const serviceIdentities = mergeKnown(current.serviceIdentities, employees.map(serviceIdentityOf), present?.serviceIdentities);
  diffInto(plan.serviceIdentities, current.serviceIdentities, employees.map(serviceIdentityOf));

  const commissions = batch.commissions.filter((commission) => {
    const problem = commissionProblem(commission, serviceIdentities, organisations, units);
    if (problem) refused.push({ entity: 'commission', key: commission.hsaId, reason: problem });
    return problem === null;
  });
  diffInto(plan.commissions, current.commissions, commissions);

  const functionObjects = batch.functionObjects.filter((fo) => {
    const problem = !organisations.has(fo.organisationHsaId)
      ? `its organisation ${fo.organisationHsaId} is not in the directory`
      : fo.unitHsaId !== null && !units.has(fo.unitHsaId)
        ? `its unit ${fo.unitHsaId} is not in the directory`
        : null;
    if (problem) refused.push({ entity: 'function_object', key: fo.hsaId, reason: problem });
    return problem === null;
  });
  diffInto(plan.functionObjects, current.functionObjects, functionObjects);

  if (present) {
    // Ending a parent ends what hangs on it, even if the source forgot to remove the children.
    plan.organisations.ended.push(...[...current.organisations.values()].filter((o) => gone(o.hsaId, present.organisations)));
    plan.units.ended.push(...[...current.units.values()].filter((u) => gone(u.hsaId, present.units) || !organisations.has(u.organisationHsaId)));
    plan.serviceIdentities.ended.push(...[...current.serviceIdentities.values()].filter((s) => !serviceIdentities.has(s.hsaId) || !organisations.has(s.organisationHsaId)));
    plan.commissions.ended.push(
      ...[...current.commissions.values()].filter((c) => gone(c.hsaId, present.commissions) || commissionProblem(c, serviceIdentities, organisations, units) !== null),
    );
    plan.functionObjects.ended.push(...[...current.functionObjects.values()].filter((f) => gone(f.hsaId, present.functionObjects) || !organisations.has(f.organisationHsaId)));
  }
  planPersons(plan, current, employees, present ? holdersOf(serviceIdentities, plan.serviceIdentities.ended) : undefined);
  return plan;
}

/**
 * An HSA-id given to two entries of one kind cannot say which is meant: both
 * are refused (the directory keeps what it had) rather than one picked at random.
 */
function withoutDuplicates(batch: CatalogueBatch, refused: Refusal[]): CatalogueBatch {
  const unique = <T extends { hsaId: string }>(entity: EntityKind, records: readonly T[]): T[] => {
    const counts = new Map<string, number>();
    for (const record of records) counts.set(record.hsaId, (counts.get(record.hsaId) ?? 0) + 1);
    for (const [hsaId, count] of counts) if (count > 1) refused.push({ entity, key: hsaId, reason: `HSA-id ${hsaId} is on ${count} entries in the catalogue` });
    return records.filter((record) => counts.get(record.hsaId) === 1);
  };
  return {
    organisations: unique('organisation', batch.organisations),
    units: unique('unit', batch.units),
    employees: unique('service_identity', batch.employees),
    commissions: unique('commission', batch.commissions),
    functionObjects: unique('function_object', batch.functionObjects),
  };
}

function serviceIdentityOf(employee: CatalogueEmployee): ServiceIdentity {
  const { hsaId, personnummer, organisationHsaId, unitHsaId, titleCode, mail, telephone, mobile } = employee;
  return { hsaId, personnummer, organisationHsaId, unitHsaId, titleCode, mail, telephone, mobile };
}

function commissionProblem(
  commission: Commission,
  serviceIdentities: ReadonlyMap<string, unknown>,
  organisations: ReadonlyMap<string, Organisation>,
  units: ReadonlyMap<string, Unit>,
): string | null {
  if (!serviceIdentities.has(commission.serviceIdentityHsaId)) return `its service identity ${commission.serviceIdentityHsaId} is not in the directory`;
  const provider = organisations.get(commission.careProviderHsaId);
  if (!provider) return `its care provider ${commission.careProviderHsaId} is not in the directory`;
  if (!provider.careProvider) return `${commission.careProviderHsaId} is not a care provider`;
  const unit = units.get(commission.careUnitHsaId);
  if (!unit) return `its care unit ${commission.careUnitHsaId} is not in the directory`;
  if (!unit.careUnit) return `${commission.careUnitHsaId} is not a care unit`;
  if (unit.organisationHsaId !== commission.careProviderHsaId) return `care unit ${commission.careUnitHsaId} does not belong to care provider ${commission.careProviderHsaId}`;
  return null;
}

/** Current records overlaid with the batch, less what a complete run says is gone. */
function mergeKnown<T extends { hsaId: string }>(current: ReadonlyMap<string, T>, incoming: readonly T[], present: ReadonlySet<string> | undefined): Map<string, T> {
  const merged = new Map(current);
  if (present) for (const key of merged.keys()) if (!present.has(key)) merged.delete(key);
  for (const record of incoming) merged.set(record.hsaId, record);
  return merged;
}

function diffInto<T extends { hsaId: string }>(plan: EntityPlan<T>, current: ReadonlyMap<string, T>, incoming: readonly T[]): void {
  for (const after of incoming) {
    const before = current.get(after.hsaId);
    if (!before) plan.added.push(after);
    else {
      const fields = changedFields(before, after);
      if (fields.length > 0) plan.changed.push({ key: after.hsaId, before, after, fields });
    }
  }
}

export function changedFields<T extends object>(before: T, after: T): string[] {
  return (Object.keys(after) as (keyof T & string)[]).filter((field) => canonical(before[field]) !== canonical(after[field]));
}

/** JSON with object keys sorted: jsonb hands objects back with its own key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** Personnummer of everyone who still holds a current service identity after the plan. */
function holdersOf(serviceIdentities: ReadonlyMap<string, ServiceIdentity>, ended: readonly ServiceIdentity[]): Set<string> {
  const endedKeys = new Set(ended.map((s) => s.hsaId));
  return new Set([...serviceIdentities.values()].filter((s) => !endedKeys.has(s.hsaId)).map((s) => s.personnummer));
}

function planPersons(plan: SyncPlan, current: CurrentState, employees: readonly CatalogueEmployee[], holders: ReadonlySet<string> | undefined): void {
  // One person may have several entries; the lowest HSA-id speaks for the person, so every run picks the same one.
  const incoming = new Map<string, CatalogueEmployee>();
  for (const employee of [...employees].sort((a, b) => (a.hsaId < b.hsaId ? -1 : 1))) {
    if (!incoming.has(employee.personnummer)) incoming.set(employee.personnummer, employee);
  }
  for (const [personnummer, employee] of incoming) {
    const before = current.persons.get(personnummer);
    const after: CataloguePerson = { ...employee.person, personnummer, missingFromCatalogue: false };
    if (!before) {
      plan.persons.added.push(after);
      continue;
    }
    const { namesFromRegister, ...beforeFacts } = before;
    const kept = namesFromRegister ? { ...after, givenName: before.givenName, surname: before.surname, displayName: before.displayName } : after;
    const fields = changedFields(beforeFacts, kept);
    if (fields.length > 0) plan.persons.changed.push({ key: personnummer, before: beforeFacts, after: kept, fields });
  }
  if (!holders) return;
  for (const person of current.persons.values()) {
    if (person.missingFromCatalogue || holders.has(person.personnummer) || incoming.has(person.personnummer)) continue;
    const { namesFromRegister: _ignored, ...facts } = person;
    plan.persons.ended.push({ ...facts, missingFromCatalogue: true });
  }
}

export const PLANNED_ENTITIES = ['organisations', 'units', 'persons', 'serviceIdentities', 'commissions', 'functionObjects'] as const;

export interface PlanCounts {
  readonly added: number;
  readonly changed: number;
  /** Ended, or for persons: marked missing from the catalogue. */
  readonly ended: number;
}

export type SyncCounts = Record<(typeof PLANNED_ENTITIES)[number], PlanCounts> & { readonly refused: number };

/** Counts for the run report. */
export function summarise(plan: SyncPlan): SyncCounts {
  const counts = Object.fromEntries(
    PLANNED_ENTITIES.map((entity) => [entity, { added: plan[entity].added.length, changed: plan[entity].changed.length, ended: plan[entity].ended.length }]),
  ) as Record<(typeof PLANNED_ENTITIES)[number], PlanCounts>;
  return { ...counts, refused: plan.refused.length };
}

export function isEmptyPlan(plan: SyncPlan): boolean {
  return PLANNED_ENTITIES.every((entity) => plan[entity].added.length === 0 && plan[entity].changed.length === 0 && plan[entity].ended.length === 0);
}
