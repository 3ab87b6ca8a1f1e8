import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Region } from '../directory/index.ts';
import type { Database } from '../store/index.ts';
import { loadActor } from './access.ts';
import { readAudit, verifyAudit } from './audit.ts';
import { PortalRefused } from './errors.ts';
import { appointRole, listAssignments, recordTraining, removeRole } from './role-store.ts';
import { may } from './roles.ts';
import { employeesOf, seedTestRegion } from './testing.ts';

const now = new Date('2026-05-01T09:00:00Z');
const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => error instanceof PortalRefused && error.kind === kind && pattern.test(error.message);

for (const target of databaseTargets()) {
  describe(`role assignments (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let orgA: string;
    let orgB: string;
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
    });
    after(async () => {
      await db.close();
    });
    const auditCount = async () => (await db.query<{ n: number }>('select count(*) as n from portal_audit'))[0]!.n;

    it('an operator appoints a responsible issuer, who appoints and removes an ID administrator in their organisation', async () => {
      const [issuer, admin] = employeesOf(region, orgA);
      const appointed = await appointRole(db, { operator: 'test' }, { holder: issuer!.hsaId, role: 'responsible-issuer', organisation: orgA, unit: null, trainedOn: null }, now);
      const issuerActor = await loadActor(db, issuer!.hsaId, now, 365);
      assert.deepEqual(issuerActor.assignments, [appointed]);

      const trained = new Date('2026-02-01T00:00:00Z');
      const adminRole = await appointRole(db, issuerActor, { holder: admin!.hsaId, role: 'id-administrator', organisation: orgA, unit: admin!.unitHsaId, trainedOn: trained }, now);
      const adminActor = await loadActor(db, admin!.hsaId, now, 365);
      assert.equal(adminActor.assignments[0]!.trainedOn?.toISOString(), trained.toISOString());
      assert.equal(may(adminActor, 'order.create', { organisation: orgA, units: [admin!.unitHsaId!] }), true);

      await removeRole(db, issuerActor, adminRole.id, now);
      assert.deepEqual((await loadActor(db, admin!.hsaId, now, 365)).assignments, []);
      const entries = [];
      for await (const entry of readAudit(db)) entries.push(entry);
      assert.deepEqual(
        entries.map((e) => [e.actor, e.role, e.organisation, e.action]),
        [
          ['operator:test', null, orgA, 'role.appoint'],
          [issuer!.hsaId, 'responsible-issuer', orgA, 'role.appoint'],
          [issuer!.hsaId, 'responsible-issuer', orgA, 'role.remove'],
        ],
      );
      assert.deepEqual(entries[2]!.before, { holder: admin!.hsaId, role: 'id-administrator', organisation: orgA, unit: admin!.unitHsaId, trainedOn: trained.toISOString() });
      assert.equal(entries[2]!.after, null);
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('refuses, writing nothing: another organisation, a role above one’s own, an unknown holder or unit, a duplicate', async () => {
      const [issuer] = employeesOf(region, orgA);
      const [other] = employeesOf(region, orgB);
      const issuerActor = await loadActor(db, issuer!.hsaId, now, 365);
      const before = await auditCount();
      await assert.rejects(appointRole(db, issuerActor, { holder: other!.hsaId, role: 'id-administrator', organisation: orgB, unit: null, trainedOn: null }, now), refused('forbidden', /role\.appoint in SE/));
      await assert.rejects(appointRole(db, issuerActor, { holder: other!.hsaId, role: 'responsible-issuer', organisation: orgA, unit: null, trainedOn: null }, now), refused('forbidden', /role\.appoint/));
      await assert.rejects(appointRole(db, issuerActor, { holder: 'SE2321000008-NOBODY', role: 'id-administrator', organisation: orgA, unit: null, trainedOn: null }, now), refused('not-found', /no current service identity/));
      const unitOfB = region.units.find((u) => u.organisationHsaId === orgB)!.hsaId;
      await assert.rejects(appointRole(db, issuerActor, { holder: other!.hsaId, role: 'id-administrator', organisation: orgA, unit: unitOfB, trainedOn: null }, now), refused('not-found', /is not a current unit of/));
      await assert.rejects(appointRole(db, issuerActor, { holder: other!.hsaId, role: 'security-officer', organisation: orgA, unit: null, trainedOn: now }, now), refused('invalid', /only to an ID administrator/));
      await appointRole(db, issuerActor, { holder: other!.hsaId, role: 'security-officer', organisation: orgA, unit: null, trainedOn: null }, now);
      await assert.rejects(appointRole(db, issuerActor, { holder: other!.hsaId, role: 'security-officer', organisation: orgA, unit: null, trainedOn: null }, now), refused('conflict', /already holds security-officer/));
      assert.equal(await auditCount(), before + 1, 'only the one appointment that went through is recorded');
    });

    it('an ID administrator’s training lapses and is renewed by the issuer', async () => {
      const [issuer, , admin] = employeesOf(region, orgA);
      const issuerActor = await loadActor(db, issuer!.hsaId, now, 365);
      const role = await appointRole(db, issuerActor, { holder: admin!.hsaId, role: 'id-administrator', organisation: orgA, unit: null, trainedOn: new Date('2024-01-01T00:00:00Z') }, now);
      const target = { organisation: orgA, units: [] };
      assert.equal(may(await loadActor(db, admin!.hsaId, now, 365), 'card.hand-out', target), false);
      await assert.rejects(recordTraining(db, await loadActor(db, admin!.hsaId, now, 365), role.id, now, now), refused('forbidden', /role\.appoint/));
      await assert.rejects(recordTraining(db, issuerActor, role.id, new Date(now.getTime() + 86_400_000), now), refused('invalid', /in the future/));
      await recordTraining(db, issuerActor, role.id, new Date('2026-04-20T00:00:00Z'), now);
      assert.equal(may(await loadActor(db, admin!.hsaId, now, 365), 'card.hand-out', target), true);
      assert.ok((await listAssignments(db, orgA)).some((a) => a.id === role.id));
      assert.deepEqual(await listAssignments(db, 'SE0000000000-NONE'), []);
    });
  });
}
