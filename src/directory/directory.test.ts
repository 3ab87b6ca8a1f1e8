import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import type { Database } from '../store/index.ts';
import { applyCatalogueBatch, presentIn } from './catalogue-sync.ts';
import { generateRegion, type Region } from './generate.ts';
import { isHsaId } from './identifiers/hsa-id.ts';
import { isPersonnummer } from './identifiers/personnummer.ts';
import { PUBLIC_VIEWER } from './model.ts';
import { normaliseName, searchKey } from './names.ts';
import { factHistory, findByHsaId, findCommission, findOrganisation, findPerson, listMissingPersons, listOrganisationPersons, loginAttributes, searchPersons } from './reads.ts';
import { extractRegister, parseRegisterExtract, toRegisterJsonLines } from './register-file.ts';
import { syncFromRegister } from './register-sync.ts';
import { WHOLE_DIRECTORY } from './store-sql.ts';

const ADMIN = { mayViewProtectedIdentities: true };
let clock = new Date('2026-01-01T00:00:00Z');
const now = () => clock;
const tick = () => (clock = new Date(clock.getTime() + 60_000));

const fullSync = (db: Database, region: Pick<Region, 'organisations' | 'units' | 'employees' | 'commissions' | 'functionObjects'>, dryRun = false) =>
  applyCatalogueBatch(db, region, presentIn(region), WHOLE_DIRECTORY, { mode: 'full', now, dryRun, watermark: null, refused: [] });

describe('synthetic region', () => {
  it('is the same for the same seed and different for another', () => {
    assert.deepEqual(generateRegion({ persons: 30, seed: 'a' }), generateRegion({ persons: 30, seed: 'a' }));
    assert.notDeepEqual(generateRegion({ persons: 30, seed: 'a' }).register, generateRegion({ persons: 30, seed: 'b' }).register);
  });

  it('holds only valid, unique identifiers', () => {
    const region = generateRegion({ persons: 3000, seed: 'ids' });
    const today = new Date('2026-01-01');
    assert.ok(region.register.every((r) => isPersonnummer(r.personnummer, today)));
    assert.equal(new Set(region.register.map((r) => r.personnummer)).size, 3000);
    const hsaIds = [...region.organisations, ...region.units, ...region.employees, ...region.commissions, ...region.functionObjects].map((r) => r.hsaId);
    assert.ok(hsaIds.every(isHsaId), hsaIds.find((id) => !isHsaId(id)));
    assert.equal(new Set(hsaIds).size, hsaIds.length);
    assert.ok(region.register.some((r) => r.protectedIdentity), 'a few protected identities');
    assert.ok(region.register.some((r) => r.personnummer.slice(6, 8) > '60'), 'some samordningsnummer');
    assert.ok(region.employees.length > region.register.length, 'some persons hold several service identities');
  });
});

for (const target of databaseTargets()) {
  describe(`directory on ${target.name}`, () => {
    let db: Database;
    const region = generateRegion({ persons: 60, seed: 'directory-test' });
    const someone = region.employees[0]!;
    const protectedOne = { ...region.register.find((r) => !r.deceased)!, protectedIdentity: true };
    const register = region.register.map((r) => (r.personnummer === protectedOne.personnummer ? protectedOne : r));

    before(async () => {
      db = await target.open();
    });
    after(() => db.close());

    it('a dry run plans the whole region and writes only its report', async () => {
      const { report, plan } = await fullSync(db, region, true);
      assert.equal(report.counts.persons.added, 60);
      assert.equal(plan.commissions.added.length, region.commissions.length);
      assert.deepEqual(await db.query('select * from directory_person'), []);
      assert.deepEqual(await db.query('select * from directory_history'), []);
      assert.deepEqual(await db.query('select id, dry_run as "dryRun", watermark from directory_sync_run'), [{ id: report.runId, dryRun: true, watermark: null }]);
    });

    it('a full sync adds everything once, and a second changes nothing', async () => {
      const first = await fullSync(db, region);
      assert.equal(first.report.counts.persons.added, 60);
      assert.equal(first.report.counts.serviceIdentities.added, region.employees.length);
      assert.equal(first.report.counts.refused, 0);
      tick();
      const second = await fullSync(db, region);
      for (const entity of ['organisations', 'units', 'persons', 'serviceIdentities', 'commissions', 'functionObjects'] as const) {
        assert.deepEqual(second.report.counts[entity], { added: 0, changed: 0, ended: 0 }, entity);
      }
      const [{ n }] = (await db.query<{ n: number }>('select count(*) as n from directory_history')) as [{ n: number }];
      const total = region.organisations.length + region.units.length + 60 + region.employees.length + region.commissions.length + region.functionObjects.length;
      assert.equal(n, total, 'one history row per entity, none added by the idle run');
    });

    it('gives the IdP a person with service identities, commissions and the names of care provider and unit', async () => {
      const attributes = await loginAttributes(db, someone.personnummer);
      assert.ok(attributes);
      assert.equal(attributes.givenName, someone.person.givenName);
      const identity = attributes.serviceIdentities.find((s) => s.hsaId === someone.hsaId)!;
      assert.equal(identity.organisation.name, region.organisations.find((o) => o.hsaId === someone.organisationHsaId)!.name);
      const expected = region.commissions.filter((c) => c.serviceIdentityHsaId === someone.hsaId);
      assert.deepEqual(identity.commissions.map((c) => c.hsaId), expected.map((c) => c.hsaId).sort());
      const commission = identity.commissions[0]!;
      const unit = region.units.find((u) => u.hsaId === commission.careUnit.hsaId)!;
      assert.equal(commission.careUnit.name, unit.name);
      assert.equal(commission.careProvider.hsaId, someone.organisationHsaId);
      assert.equal(await loginAttributes(db, '191212121212'), null);
    });

    it('finds by HSA-id, commission and organisation', async () => {
      const bySi = await findByHsaId(db, someone.hsaId, ADMIN);
      assert.equal(bySi?.kind, 'service_identity');
      const commissionId = region.commissions.find((c) => c.serviceIdentityHsaId === someone.hsaId)!.hsaId;
      const holder = await findCommission(db, commissionId, ADMIN);
      assert.equal(holder?.person.personnummer, someone.personnummer);
      assert.equal((await findByHsaId(db, commissionId, ADMIN))?.kind, 'commission');
      const first = region.organisations[0]!;
      const organisation = await findOrganisation(db, first.organisationNumber);
      assert.equal(organisation?.units.length, region.units.filter((u) => u.organisationHsaId === first.hsaId).length);
      const parentsFirst = organisation!.units.map((u) => u.hsaId);
      for (const unit of organisation!.units) if (unit.parentUnitHsaId) assert.ok(parentsFirst.indexOf(unit.parentUnitHsaId) < parentsFirst.indexOf(unit.hsaId));
      assert.equal((await findByHsaId(db, region.units[0]!.hsaId, ADMIN))?.kind, 'unit');
      assert.equal(await findByHsaId(db, 'SE2321000016-NOPE', ADMIN), null);
      const staff = await listOrganisationPersons(db, first.hsaId, ADMIN, 1000);
      assert.equal(staff.length, new Set(region.employees.filter((e) => e.organisationHsaId === first.hsaId).map((e) => e.personnummer)).size);
    });

    it('imports the register: protected identity, names, and persons it does not know', async () => {
      const missing = register.at(-1)!;
      const extract = parseRegisterExtract(toRegisterJsonLines(register.slice(0, -1)), 'jsonl', clock);
      tick();
      const report = await syncFromRegister(db, extractRegister(extract), { now, mode: 'extract' });
      assert.equal(report.checked, 60);
      assert.equal(report.markedMissing, 1);
      const person = await findPerson(db, missing.personnummer, ADMIN);
      assert.deepEqual(person?.missingFromRegisterSince, clock);
      const again = await syncFromRegister(db, extractRegister(extract), { now, mode: 'extract' });
      assert.deepEqual([again.changed, again.markedMissing], [0, 0], 'idempotent');
    });

    it('hides a protected identity from viewers without the right, everywhere', async () => {
      const pnr = protectedOne.personnummer;
      assert.equal(await findPerson(db, pnr, PUBLIC_VIEWER), null);
      assert.equal((await findPerson(db, pnr, ADMIN))?.protectedIdentity, true);
      const hsaId = region.employees.find((e) => e.personnummer === pnr)!.hsaId;
      assert.equal(await findByHsaId(db, hsaId, PUBLIC_VIEWER), null);
      const commission = region.commissions.find((c) => c.serviceIdentityHsaId === hsaId)!;
      assert.equal(await findCommission(db, commission.hsaId, PUBLIC_VIEWER), null);
      assert.ok(await findCommission(db, commission.hsaId, ADMIN));
      const orgHsaId = region.employees.find((e) => e.personnummer === pnr)!.organisationHsaId;
      assert.ok(!(await listOrganisationPersons(db, orgHsaId, PUBLIC_VIEWER, 1000)).some((p) => p.personnummer === pnr));
      assert.ok((await listOrganisationPersons(db, orgHsaId, ADMIN, 1000)).some((p) => p.personnummer === pnr));
      const byName = `${protectedOne.givenName} ${protectedOne.surname}`;
      assert.ok(!(await searchPersons(db, byName, PUBLIC_VIEWER, 1000)).some((p) => p.personnummer === pnr));
      assert.ok((await searchPersons(db, byName, ADMIN, 1000)).some((p) => p.personnummer === pnr));
      assert.equal((await loginAttributes(db, pnr))?.protectedIdentity, true, 'the person can still log in');
    });

    it('searches names ignoring case, with å, ä and ö, in any Unicode form', async () => {
      await db.query(
        `update directory_person set given_name = 'Åsa', surname = 'Öberg-Ängström Kristoffersdotterlund', search_name = ' åsa öberg ängström kristoffersdotterlund'
          where personnummer = $1`,
        [someone.personnummer],
      );
      // One-letter words and words longer than the indexed prefixes (16 letters) are still found.
      for (const query of ['ÅSA', 'åsa öberg', 'ÖBERG', 'ängström', 'A\u030asa', 'Ängs Ås', 'å', 'Å ö', 'kristoffersdotterlun', 'kristoffersdotterlund']) {
        assert.ok((await searchPersons(db, query, ADMIN)).some((p) => p.personnummer === someone.personnummer), query);
      }
      for (const query of ['asa', 'oberg', 'sa', '%', '_sa', 'kristoffersdotterlundx']) {
        assert.ok(!(await searchPersons(db, query, ADMIN)).some((p) => p.personnummer === someone.personnummer), query);
      }
      assert.deepEqual(await searchPersons(db, '   ', ADMIN), []);
    });

    it('ends what vanished, marks the person missing from the catalogue, and keeps the history', async () => {
      const leaver = region.employees.find((e) => region.employees.filter((x) => x.personnummer === e.personnummer).length === 1 && e !== someone)!;
      const remaining = {
        ...region,
        employees: region.employees.filter((e) => e !== leaver),
        commissions: region.commissions.filter((c) => c.serviceIdentityHsaId !== leaver.hsaId),
      };
      const leftAt = tick();
      const { report } = await fullSync(db, remaining);
      assert.equal(report.counts.persons.ended, 1);
      assert.equal(report.counts.serviceIdentities.ended, 1);
      assert.equal(report.counts.commissions.ended, region.commissions.filter((c) => c.serviceIdentityHsaId === leaver.hsaId).length);
      const person = await findPerson(db, leaver.personnummer, ADMIN);
      assert.ok(person, 'kept, not deleted');
      assert.deepEqual(person.missingFromCatalogueSince, leftAt);
      assert.deepEqual(person.serviceIdentities, []);
      const periods = await factHistory(db, 'service_identity', leaver.hsaId);
      assert.equal(periods.length, 1);
      assert.deepEqual(periods[0]!.validTo, leftAt);
      const missing = await listMissingPersons(db, ADMIN);
      assert.ok(missing.some((p) => p.personnummer === leaver.personnummer && p.missingFromCatalogueSince?.getTime() === leftAt.getTime()));
      assert.ok(missing.some((p) => p.missingFromRegisterSince !== null), 'the one the register did not know');
      const personPeriods = await factHistory(db, 'person', leaver.personnummer);
      assert.equal(personPeriods.at(-1)!.facts['missing_from_catalogue_since'] !== null, true);
      tick();
      const back = await fullSync(db, region);
      assert.equal(back.report.counts.persons.changed, 1, 'returns');
      assert.equal((await findPerson(db, leaver.personnummer, ADMIN))?.missingFromCatalogueSince, null);
      const reopened = await factHistory(db, 'service_identity', leaver.hsaId);
      assert.equal(reopened.length, 2);
      assert.equal(reopened[1]!.validTo, null);
    });

    it('refuses entries that share an HSA-id, keeping what the directory had', async () => {
      const twin = region.employees[3]!;
      const impostor = { ...twin, personnummer: '191212121212', mail: 'impostor@example.org' };
      const commission = region.commissions[5]!;
      tick();
      const { report } = await fullSync(db, { ...region, employees: [...region.employees, impostor], commissions: [...region.commissions, { ...commission, name: 'Dubblett' }] });
      assert.deepEqual(report.refused.map((r) => r.key).sort(), [twin.hsaId, commission.hsaId].sort());
      assert.match(report.refused[0]!.reason, /is on 2 entries in the catalogue/);
      assert.deepEqual(report.counts.serviceIdentities, { added: 0, changed: 0, ended: 0 }, 'the earlier version stays current');
      assert.deepEqual(report.counts.commissions, { added: 0, changed: 0, ended: 0 });
      assert.equal((await findPerson(db, twin.personnummer, ADMIN))?.serviceIdentities.find((s) => s.hsaId === twin.hsaId)?.mail, twin.mail);
      assert.equal(await findPerson(db, '191212121212', ADMIN), null);
    });

    it('refuses a commission that points at something unknown or wrong, and applies the rest', async () => {
      const good = region.commissions[0]!;
      const nonCareUnit = region.units.find((u) => !u.careUnit);
      const broken = [
        { ...good, hsaId: `${good.hsaId}X1`, careUnitHsaId: 'SE2321000016-GONE' },
        { ...good, hsaId: `${good.hsaId}X2`, serviceIdentityHsaId: 'SE2321000016-NOONE' },
        { ...good, hsaId: `${good.hsaId}X3`, careProviderHsaId: 'SE2321000016-NOPROV' },
        ...(nonCareUnit ? [{ ...good, hsaId: `${good.hsaId}X4`, careUnitHsaId: nonCareUnit.hsaId }] : []),
      ];
      const renamed = { ...region.commissions[1]!, name: 'Nytt namn' };
      const batch = { ...region, commissions: [...region.commissions.slice(2), renamed, good, ...broken] };
      tick();
      const { report } = await fullSync(db, batch);
      assert.deepEqual(report.refused.map((r) => r.key).sort(), broken.map((b) => b.hsaId).sort());
      assert.match(report.refused.find((r) => r.key.endsWith('X1'))!.reason, /care unit SE2321000016-GONE is not in the directory/);
      assert.equal(report.counts.commissions.changed, 1);
      assert.equal((await findCommission(db, renamed.hsaId, ADMIN))?.commission.name, 'Nytt namn');
    });
  });
}

for (const target of databaseTargets()) {
  describe(`name search on ${target.name}`, () => {
    let db: Database;
    const GIVEN = ['Anna', 'Åsa', 'Anders', 'Östen', 'Per', 'Märta'];
    const SURNAMES = ['Andersson', 'Persson', 'Öberg', 'Åberg', 'Ek', 'Wallin', 'de Geer'];
    // The plain rule over every row: the answer every index path must give.
    const reference = (words: string[], viewer: { mayViewProtectedIdentities: boolean }, limit: number) =>
      db.query<{ personnummer: string }>(
        `select personnummer from directory_person p where ${words.map((_, i) => `p.search_name like $${i + 3}`).join(' and ')} and (not p.protected_identity or $1::boolean)
          order by p.surname, p.given_name, p.personnummer limit $2`,
        [viewer.mayViewProtectedIdentities, limit, ...words.map((w) => `% ${w.replace(/[%_\\]/g, (c) => `\\${c}`)}%`)],
      );
    const found = async (query: string, viewer = ADMIN, limit = 50) => (await searchPersons(db, query, viewer, limit)).map((p) => p.personnummer);

    before(async () => {
      db = await target.open();
      const rows: [string, string, string, boolean][] = [];
      for (let i = 0; i < 300; i++) rows.push([`19700101${String(i).padStart(4, '0')}`, GIVEN[i % GIVEN.length]!, SURNAMES[(i * 7 + (i >> 2)) % SURNAMES.length]!, i % 17 === 0]);
      // Same names, so the personnummer breaks the tie; and 6,000 one-off words that all start with "q".
      for (let i = 0; i < 6_000; i++) rows.push([`19800101${String(i).padStart(4, '0')}`, i % 2 ? 'Anna' : 'Qarin', `Q${i}`, i % 97 === 0]);
      for (let i = 0; i < 200; i++) rows.push([`19900101${String(i).padStart(4, '0')}`, 'Ella', `Z${i}`, false]);
      await db.query(
        `insert into directory_person (personnummer, given_name, surname, search_name, protected_identity, created_at, updated_at)
         select r.pnr, r.given, r.surname, r.key, r.protected, now(), now() from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[]) as r(pnr, given, surname, key, protected)`,
        [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), rows.map((r) => searchKey(r[1], r[2])), rows.map((r) => r[3])],
      );
    });
    after(() => db.close());

    it('gives the first matches in order (surname, given name, personnummer), as many as asked, like a scan of every row', async () => {
      // Streams per name word ("an", "ö"), the rarest word driving ("anna q1"), many words read whole ("z"), many words walked ("q").
      for (const query of ['an', 'Anna', 'anders', 'ö', 'Å', 'Ek', 'de geer', 'per', 'anna q1', 'q anna', 'z', 'z1', 'q', 'q59', 'ANNA Q', 'östen öberg', 'e']) {
        const words = normaliseName(query).split(' ');
        for (const limit of [1, 7, 50, 400]) {
          for (const viewer of [ADMIN, PUBLIC_VIEWER]) {
            const expected = (await reference(words, viewer, limit)).map((r) => r.personnummer);
            assert.deepEqual(await found(query, viewer, limit), expected, `${query}, limit ${limit}, ${viewer.mayViewProtectedIdentities ? 'admin' : 'public'}`);
          }
        }
      }
      assert.equal((await found('q', ADMIN, 400)).length, 400, 'the limit holds where thousands match');
      assert.deepEqual(await found('anna', ADMIN, 0), []);
    });

    it('breaks ties between equal names by personnummer', async () => {
      const hits = await searchPersons(db, 'anna andersson', ADMIN, 1000);
      assert.ok(hits.length > 2);
      assert.deepEqual(hits.map((h) => h.personnummer), hits.map((h) => h.personnummer).sort());
    });

    it('follows a person whose name changes, is written over (upsert) or is removed', async () => {
      const pnr = '197001010001';
      await db.query(`update directory_person set given_name = 'Gunvor', search_name = ' gunvor ek' where personnummer = $1`, [pnr]);
      assert.deepEqual(await found('gunvor'), [pnr]);
      assert.ok(!(await found('åsa', ADMIN, 1000)).includes(pnr), 'the old name no longer finds them');
      await db.query(
        `insert into directory_person as t (personnummer, given_name, surname, search_name, created_at, updated_at) values ($1, 'Ylva', 'Ek', ' ylva ek', now(), now())
         on conflict (personnummer) do update set given_name = excluded.given_name, search_name = excluded.search_name`,
        [pnr],
      );
      assert.deepEqual(await found('ylva ek'), [pnr]);
      assert.deepEqual(await found('gunvor'), []);
      await db.query(`update directory_person set surname = 'Öberg', search_name = ' ylva öberg' where personnummer = $1`, [pnr]);
      assert.deepEqual((await searchPersons(db, 'ylva', ADMIN)).map((p) => p.surname), ['Öberg'], 'the order columns follow too');
      await db.query(`delete from directory_person where personnummer = $1`, [pnr]);
      assert.deepEqual(await found('ylva'), []);
      assert.deepEqual(await db.query('select * from directory_person_name_word w where not exists (select 1 from directory_person p where p.id = w.person_id)'), []);
    });

    it('takes hostile queries as plain text', async () => {
      for (const query of ['%', '_', '\\', "' or 1=1 --", 'a\u0000b', '\u0000', '\u{10FFFF}', 'q\u{10FFFF}', 'x'.repeat(5000), 'a '.repeat(300)]) {
        const hits = await found(query, ADMIN, 20);
        assert.ok(hits.length <= 20, query.slice(0, 20));
        if (query !== 'a '.repeat(300)) assert.deepEqual(hits, [], JSON.stringify(query.slice(0, 20)));
      }
      assert.deepEqual(await found('a\u0000nna', ADMIN, 5), [], 'a control character splits words: "a" and "nna" (no name word starts with "nna")');
      assert.deepEqual(await found('ann\u0009q1', ADMIN, 3), await found('ann q1', ADMIN, 3));
    });
  });
}
