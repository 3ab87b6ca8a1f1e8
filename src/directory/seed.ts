import type { Database } from '../store/index.ts';
import { applyCatalogueBatch, presentIn } from './catalogue-sync.ts';
import type { Region } from './generate.ts';
import { extractRegister } from './register-file.ts';
import { syncFromRegister } from './register-sync.ts';
import { WHOLE_DIRECTORY } from './store-sql.ts';

/**
 * Loads a generated region straight into the directory, as if the catalogue
 * and the register had been synced: the demo and tests need no slapd for it.
 */
export async function seedRegion(db: Database, region: Region, now: () => Date): Promise<void> {
  await applyCatalogueBatch(db, region, presentIn(region), WHOLE_DIRECTORY, { mode: 'full', now, watermark: null, refused: [] });
  await syncFromRegister(db, extractRegister({ records: new Map(region.register.map((r) => [r.personnummer, r])), refused: [] }), { now, mode: 'demo' });
}

/** A few persons to log in as, for the start-up message: one plain, one with several service identities, one protected. */
export function demoLines(region: Region): string[] {
  const employeesOf = Map.groupBy(region.employees, (e) => e.personnummer);
  const alive = region.register.filter((r) => !r.deceased);
  const plain = alive.find((r) => !r.protectedIdentity && employeesOf.get(r.personnummer)?.length === 1);
  const several = alive.find((r) => !r.protectedIdentity && (employeesOf.get(r.personnummer)?.length ?? 0) > 1);
  const hidden = alive.find((r) => r.protectedIdentity);
  const describe = (label: string, person: (typeof region.register)[number] | undefined) =>
    person ? [`${label}: ${person.givenName} ${person.surname}, personnummer ${person.personnummer}, HSA-id ${employeesOf.get(person.personnummer)!.map((e) => e.hsaId).join(' and ')}`] : [];
  return [
    `Directory: ${region.organisations.map((o) => `${o.name} (${o.hsaId})`).join(', ')}; ${region.units.length} units, ${region.register.length} persons, ${region.commissions.length} commissions`,
    ...describe('  a person', plain),
    ...describe('  with two service identities', several),
    ...describe('  with protected identity', hidden),
  ];
}
