import type { Database } from '../store/index.ts';
import { searchKey } from './names.ts';
import type { PopulationRegister, RegisterRecord } from './register.ts';
import { finishRun, recordHistory, startRun } from './store-sql.ts';
import { changedFields } from './sync-plan.ts';

export interface RegisterRunReport {
  readonly runId: number;
  readonly dryRun: boolean;
  readonly checked: number;
  readonly changed: number;
  readonly markedMissing: number;
  readonly returned: number;
  readonly refused: readonly { readonly line?: number; readonly key?: string; readonly reason: string }[];
}

const LOOKUP_BATCH = 500;

interface PersonRegisterFacts {
  personnummer: string;
  givenName: string;
  surname: string;
  displayName: string | null;
  protectedIdentity: boolean;
  deceased: boolean;
  newPersonnummer: string | null;
  missingFromRegister: boolean;
}

/**
 * Brings every person in the directory in line with the register: names,
 * protected identity, deceased, newer personnummer. Persons the register
 * does not know are marked missing from it (kept, never deleted). All lookups
 * are made before anything is written, and the writes are one transaction,
 * so an unreachable register changes nothing.
 */
export async function syncFromRegister(
  db: Database,
  register: PopulationRegister,
  options: { readonly now: () => Date; readonly dryRun?: boolean; readonly mode: string; readonly refused?: RegisterRunReport['refused'] },
): Promise<RegisterRunReport> {
  const startedAt = options.now();
  const persons = await db.query<PersonRegisterFacts>(
    `select personnummer, given_name as "givenName", surname, display_name as "displayName", protected_identity as "protectedIdentity",
            deceased, new_personnummer as "newPersonnummer", missing_from_register_since is not null as "missingFromRegister"
       from directory_person order by personnummer`,
  );
  const found = new Map<string, RegisterRecord>();
  for (let i = 0; i < persons.length; i += LOOKUP_BATCH) {
    for (const [key, record] of await register.lookup(persons.slice(i, i + LOOKUP_BATCH).map((p) => p.personnummer))) found.set(key, record);
  }
  const updates: PersonRegisterFacts[] = [];
  let markedMissing = 0;
  let returned = 0;
  for (const person of persons) {
    const record = found.get(person.personnummer);
    const after = record ? factsFrom(person, record) : { ...person, missingFromRegister: true };
    if (changedFields(person, after).length === 0) continue;
    if (!person.missingFromRegister && after.missingFromRegister) markedMissing++;
    if (person.missingFromRegister && !after.missingFromRegister) returned++;
    updates.push(after);
  }
  const report = { dryRun: options.dryRun ?? false, checked: persons.length, changed: updates.length - markedMissing, markedMissing, returned, refused: options.refused ?? [] };
  const runId = await db.transaction(async (tx) => {
    const id = await startRun(tx, { source: 'register', mode: options.mode, dryRun: report.dryRun, startedAt });
    if (report.dryRun) {
      await finishRun(tx, id, options.now(), null, report);
      return id;
    }
    const at = options.now();
    for (let i = 0; i < updates.length; i += LOOKUP_BATCH) {
      const batch = updates.slice(i, i + LOOKUP_BATCH);
      await tx.query(
        `update directory_person p set given_name = r."givenName", surname = r.surname, display_name = r."displayName", search_name = r."searchName",
                protected_identity = r."protectedIdentity", deceased = r.deceased, new_personnummer = r."newPersonnummer",
                missing_from_register_since = case when r."missingFromRegister" then coalesce(p.missing_from_register_since, $2) end,
                register_checked_at = case when r."missingFromRegister" then p.register_checked_at else $2 end, updated_at = $2
           from jsonb_to_recordset($1::jsonb) as r(personnummer text, "givenName" text, surname text, "displayName" text, "searchName" text,
                "protectedIdentity" boolean, deceased boolean, "newPersonnummer" text, "missingFromRegister" boolean)
          where p.personnummer = r.personnummer`,
        [JSON.stringify(batch.map((u) => ({ ...u, searchName: searchKey(u.givenName, u.surname, u.displayName) }))), at],
      );
    }
    // Checked persons whose facts did not change still count as checked: names now come from the register.
    await tx.query(`update directory_person set register_checked_at = $2 where personnummer = any($1::text[])`, [[...found.keys()], at]);
    await recordHistory(tx, 'person', updates.map((u) => u.personnummer), [], at, id);
    await finishRun(tx, id, options.now(), null, report);
    return id;
  });
  return { runId, ...report };
}

function factsFrom(person: PersonRegisterFacts, record: RegisterRecord): PersonRegisterFacts {
  const sameNames = person.givenName === record.givenName && person.surname === record.surname;
  return {
    personnummer: person.personnummer,
    givenName: record.givenName,
    surname: record.surname,
    // The catalogue's display name stands until the register renames the person.
    displayName: sameNames && person.displayName !== null ? person.displayName : `${record.givenName} ${record.surname}`,
    protectedIdentity: record.protectedIdentity,
    deceased: record.deceased,
    newPersonnummer: record.newPersonnummer,
    missingFromRegister: false,
  };
}
