import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets } from '../../test/support/stores.ts';
import { loadConfig } from '../config/index.ts';
import type { Region } from '../directory/index.ts';
import type { Database } from '../store/index.ts';
import { openPki, type Pki } from '../pki/index.ts';
import { loadActor } from './access.ts';
import { PortalRefused } from './errors.ts';
import { generateKeyPairSync } from 'node:crypto';
import { certificateRequest } from '../app/index.ts';
import { createEnrolmentService } from '../authn/index.ts';
import { searchPeople, unknownHolderCertificates, viewPerson } from './person-view.ts';
import { appointRole } from './role-store.ts';
import type { Role } from './roles.ts';
import { employeesOf, seedTestRegion } from './testing.ts';

const now = new Date('2026-05-01T09:00:00Z');

for (const target of databaseTargets()) {
  describe(`person search and view, in scope only (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let region: Region;
    let orgA: string;
    let orgB: string;
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      pki = await openPki({ config: loadConfig({ overrides: { dataDir: 'memory://' } }), db, log: pino({ level: 'silent' }), now: () => now });
    });
    after(async () => {
      await db.close();
    });
    const holding = async (index: number, organisation: string, roles: [Role, string | null][]) => {
      const holder = employeesOf(region, organisation)[index]!.hsaId;
      for (const [role, unit] of roles) await appointRole(db, { operator: 't' }, { holder, role, organisation, unit, trainedOn: role === 'id-administrator' ? now : null }, now);
      return loadActor(db, holder, now, 365);
    };
    const protectedPerson = () => {
      const hidden = new Set(region.register.filter((r) => r.protectedIdentity).map((r) => r.personnummer));
      const employee = region.employees.find((e) => e.organisationHsaId === orgA && hidden.has(e.personnummer))!;
      return { ...employee, surname: region.register.find((r) => r.personnummer === employee.personnummer)!.surname };
    };

    it('shows a protected identity only with the extra right in scope', async () => {
      const plain = await holding(0, orgA, [['id-administrator', null]]);
      const viewer = await holding(1, orgA, [['id-administrator', null], ['protected-identity-viewer', null]]);
      const other = await holding(0, orgB, [['id-administrator', null], ['protected-identity-viewer', null]]);
      const hidden = protectedPerson();
      for (const query of [hidden.hsaId, hidden.personnummer, hidden.surname]) {
        assert.deepEqual((await searchPeople(db, plain, query)).filter((h) => h.personnummer === hidden.personnummer), [], `${query}: hidden without the right`);
        assert.equal((await searchPeople(db, viewer, query)).filter((h) => h.personnummer === hidden.personnummer).length, 1, `${query}: shown with it`);
        assert.deepEqual((await searchPeople(db, other, query)).filter((h) => h.personnummer === hidden.personnummer), [], `${query}: not from another organisation`);
      }
      await assert.rejects(viewPerson(db, pki, plain, hidden.personnummer), (e) => e instanceof PortalRefused && e.kind === 'not-found');
      assert.equal((await viewPerson(db, pki, viewer, hidden.personnummer)).person.personnummer, hidden.personnummer);
    });

    it('a role for a unit covers the units below it and nothing beside it', async () => {
      const parent = region.units.find((u) => u.organisationHsaId === orgB && region.units.some((c) => c.parentUnitHsaId === u.hsaId))!;
      const scoped = await holding(2, orgB, [['id-administrator', parent.hsaId]]);
      const below = new Set([parent.hsaId, ...region.units.filter((u) => u.parentUnitHsaId === parent.hsaId).map((u) => u.hsaId)]);
      const inside = employeesOf(region, orgB).find((e) => e.unitHsaId && below.has(e.unitHsaId) && e.unitHsaId !== parent.hsaId)!;
      assert.equal((await searchPeople(db, scoped, inside.hsaId)).length, 1);
      assert.equal((await viewPerson(db, pki, scoped, inside.personnummer)).person.personnummer, inside.personnummer);
      const outside = employeesOf(region, orgB).find((e) => !e.unitHsaId || !below.has(e.unitHsaId)) ?? employeesOf(region, orgA)[3]!;
      assert.deepEqual(await searchPeople(db, scoped, outside.hsaId), []);
      await assert.rejects(viewPerson(db, pki, scoped, outside.personnummer), (e) => e instanceof PortalRefused && e.kind === 'not-found');
    });

    it("lists the person's mobile eIDs with status, and the note on third-party certificates", async () => {
      const admin = await holding(4, orgA, [['id-administrator', null]]);
      const person = employeesOf(region, orgA)[5]!;
      const enrolment = createEnrolmentService({ db, pki, now: () => now });
      const serials: string[] = [];
      for (const label of ['phone', 'tablet']) {
        const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const code = await enrolment.createCode(person.personnummer, 'test');
        serials.push((await enrolment.redeem(code.code, await certificateRequest(publicKey, privateKey), label)).serial);
      }
      await pki.revoke({ serial: serials[0]!, reason: 'keyCompromise', actor: 'test' });
      const page = await viewPerson(db, pki, admin, person.personnummer, (p) => enrolment.mobileEidsOf(p));
      assert.deepEqual(new Map(page.mobileEids.map((m) => [m.serial, m.status])), new Map([[serials[0], 'revoked'], [serials[1], 'active']]));
      assert.match(page.thirdPartyNote.en, /revoked with that issuer/);
    });

    it('lists certificates of no known holder: by their card to its organisation, the rest to operators only', async () => {
      const adminA = await holding(6, orgA, [['id-administrator', null]]);
      const adminB = await holding(6, orgB, [['id-administrator', null]]);
      const subject = (serialNumber: string) => ({ commonName: 'Gone Person', givenName: 'Gone', surname: 'Person', serialNumber });
      const known = employeesOf(region, orgA)[7]!;
      const onCard = await pki.issueWithNewKey('person-auth-hsa-loa3', subject(`${orgA.split('-')[0]}-GONE1`));
      const loose = await pki.issueWithNewKey('person-auth-hsa-loa3', subject(`${orgA.split('-')[0]}-GONE2`));
      const held = await pki.issueWithNewKey('person-auth-hsa-loa3', { ...subject(known.hsaId) });
      const [card] = await db.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ('ordinary', 3, '190001019876', $1, $2, 'active', 't', $3, $3) returning id::int`,
        [`${orgA.split('-')[0]}-GONE1`, orgA, now],
      );
      await db.query(`insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, 'auth-hsa', $2, 'person-auth-hsa-loa3')`, [card!.id, onCard.serial]);
      const serialsFor = async (principal: Parameters<typeof unknownHolderCertificates>[1], organisation: string) => (await unknownHolderCertificates(db, principal, organisation, now)).map((c) => c.serial);
      assert.deepEqual(await serialsFor(adminA, orgA), [onCard.serial]);
      const operatorSees = await serialsFor({ operator: 't' }, orgA);
      assert.ok(operatorSees.includes(onCard.serial) && operatorSees.includes(loose.serial), 'the operator sees both');
      assert.ok(!operatorSees.includes(held.serial), 'a certificate of a known HSA-id is not listed');
      const responders = await db.query<{ serial: string }>(`select serial from pki_certificates where profile = 'ocsp-signer'`);
      assert.ok(responders.length > 0 && responders.every((r) => !operatorSees.includes(r.serial)), "the CAs' OCSP responders name no holder and are no eIDs: not listed");
      assert.deepEqual(await serialsFor(adminB, orgB), [], "another organisation's administrator does not see it");
      await assert.rejects(unknownHolderCertificates(db, adminB, orgA, now), (e) => e instanceof PortalRefused && e.kind === 'forbidden');
      await pki.revoke({ serial: onCard.serial, reason: 'cessationOfOperation', actor: 'test' });
      assert.deepEqual(await serialsFor(adminA, orgA), [], 'a revoked certificate is no longer listed');
    });
  });
}
