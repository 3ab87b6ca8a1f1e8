import { generateRegion, seedRegion, type Region } from '../directory/index.ts';
import type { Database } from '../store/index.ts';

/** A small seeded region for the portal's tests: two organisations, their units and employees. */
export async function seedTestRegion(db: Database, now: Date): Promise<Region> {
  const region = generateRegion({ persons: 60, seed: 'portal-test', regionName: 'Region Test' });
  await seedRegion(db, region, () => now);
  return region;
}

/** Service identities of living, unprotected persons in an organisation, in a stable order. */
export function employeesOf(region: Region, organisation: string) {
  const plain = new Set(region.register.filter((r) => !r.protectedIdentity && !r.deceased).map((r) => r.personnummer));
  return region.employees.filter((e) => e.organisationHsaId === organisation && plain.has(e.personnummer));
}
