import { generateRegion } from '../directory/index.ts';
import type { PartContext } from '../server/index.ts';
import { PortalRefused } from './errors.ts';
import { appointRole } from './role-store.ts';
import type { Role } from './roles.ts';

/**
 * Gives the demo region's first organisation a responsible issuer and an ID
 * administrator (trained today), picked from the same generated region the
 * directory seeded, so the portal can be tried at once. Idempotent.
 */
export async function seedPortalDemo(context: PartContext): Promise<string[]> {
  const { persons, seed } = context.config.directory.demo;
  const region = generateRegion({ persons, seed, regionName: context.config.demo.regionName });
  const organisation = region.organisations[0];
  if (!organisation) return [];
  const plain = new Set(region.register.filter((r) => !r.protectedIdentity && !r.deceased).map((r) => r.personnummer));
  const candidates = region.employees.filter((e) => e.organisationHsaId === organisation.hsaId && plain.has(e.personnummer));
  const [issuer, admin] = [candidates[0], candidates.find((e) => e.personnummer !== candidates[0]?.personnummer)];
  if (!issuer || !admin) return [];
  const now = context.now();
  const appoint = async (holder: string, role: Role, trainedOn: Date | null) => {
    try {
      await appointRole(context.db, { operator: 'demo-seed' }, { holder, role, organisation: organisation.hsaId, unit: null, trainedOn }, now);
    } catch (error) {
      if (!(error instanceof PortalRefused && error.kind === 'conflict')) throw error;
    }
  };
  await appoint(issuer.hsaId, 'responsible-issuer', null);
  await appoint(admin.hsaId, 'id-administrator', now);
  await appoint(admin.hsaId, 'protected-identity-viewer', null);
  const name = (e: typeof issuer) => `${e.person.givenName} ${e.person.surname}, personnummer ${e.personnummer}, HSA-id ${e.hsaId}`;
  return [`Portal (${organisation.name}):`, `  responsible issuer: ${name(issuer)}`, `  ID administrator (may also see protected identities): ${name(admin)}`];
}
