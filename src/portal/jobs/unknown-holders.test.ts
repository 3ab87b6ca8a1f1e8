import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { loadConfig } from '../../config/index.ts';
import { holderStandings, withPersonnummerCheckDigit, type Region } from '../../directory/index.ts';
import { runJob, type RunResult } from '../../jobs/index.ts';
import { eidCertificatesInForce, openPki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { unknownHolderCertificates } from '../person-view.ts';
import { appointRole } from '../role-store.ts';
import { may, type Role } from '../roles.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { unknownHoldersJob } from './unknown-holders.ts';

const now = new Date('2026-05-01T09:00:00Z');
const DAY = 86_400_000;
const log = pino({ level: 'silent' });

/** A small deterministic generator, so a failing mix can be replayed. */
function generator(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, below: (n: number) => Math.floor(next() * n), pick: <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]! };
}

for (const target of databaseTargets()) {
  describe(`portal-unknown-holders: each certificate checked once (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let orgA: string;
    let orgB: string;
    let adminA: Principal;
    let adminB: Principal;
    let unitAdmin: Principal;
    let insideUnit: string;
    let outsideUnit: string;
    const operator: Principal = { operator: 't' };
    let nextPnr = 100;
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      await openPki({ config: loadConfig({ overrides: { dataDir: 'memory://' } }), db, log, now: () => now });
      const holding = async (index: number, organisation: string, roles: [Role, string | null][]) => {
        const holder = employeesOf(region, organisation)[index]!.hsaId;
        for (const [role, unit] of roles) await appointRole(db, operator, { holder, role, organisation, unit, trainedOn: role === 'id-administrator' ? now : null }, now);
        return loadActor(db, holder, now, 365);
      };
      // A unit with one below it if the organisation has one, so the role's reach down is used too.
      const unitsOfA = region.units.filter((u) => u.organisationHsaId === orgA);
      const parent = unitsOfA.find((u) => unitsOfA.some((c) => c.parentUnitHsaId === u.hsaId)) ?? unitsOfA[0]!;
      insideUnit = (unitsOfA.find((u) => u.parentUnitHsaId === parent.hsaId) ?? parent).hsaId;
      outsideUnit = region.units.find((u) => u.organisationHsaId === orgA && u.hsaId !== parent.hsaId && u.parentUnitHsaId !== parent.hsaId)!.hsaId;
      adminA = await holding(0, orgA, [['id-administrator', null]]);
      adminB = await holding(0, orgB, [['id-administrator', null]]);
      unitAdmin = await holding(1, orgA, [['id-administrator', parent.hsaId]]);
    });
    after(() => db.close());

    /**
     * Two minutes pass: everything issued so far is further back than the
     * minute the job waits for certificates still being issued (the issue
     * times and where the job got to move back together, so their order holds).
     */
    const minutesPass = async () => {
      await db.query(`update pki_certificates set issued_at = issued_at - interval '2 minutes'`);
      await db.query(`update portal_unknown_holder_progress set issued_at = issued_at - interval '2 minutes'`);
    };
    const run = async (dryRun = false, settled = true) => {
      if (settled) await minutesPass();
      const result: RunResult = await runJob({ db, log, now: () => now, node: 'test', leaseMs: 60_000 }, unknownHoldersJob, { trigger: 'manual', dryRun });
      assert.equal(result.status, 'succeeded', JSON.stringify(result));
      return (result as Extract<RunResult, { status: 'succeeded' }>).summary as Record<string, any>;
    };
    /** A personnummer nobody in the directory has. */
    const strangerPnr = () => {
      const known = new Set(region.register.map((r) => r.personnummer));
      for (;;) {
        const n = nextPnr++;
        const candidate = withPersonnummerCheckDigit(`196001${String(1 + (Math.floor(n / 1000) % 28)).padStart(2, '0')}${String(n % 1000).padStart(3, '0')}`);
        if (!known.has(candidate)) return candidate;
      }
    };
    const strangerHsaId = () => `${orgA.split('-')[0]}-GONE${nextPnr++}`;
    /** An eID certificate as the PKI stores it, issued now (the signature does not matter here). */
    const certificate = async (identifier: string | null, options: { notBefore?: Date; notAfter?: Date; revoked?: 'keyCompromise' | 'certificateHold' } = {}) => {
      const serial = randomBytes(16).toString('hex').replace(/^0+/, '');
      await db.query(
        `insert into pki_certificates (serial, ca_id, profile, subject, identifier, not_before, not_after, der, revoked_at, revocation_reason, on_hold)
         values ($1, 'person-hsa-loa3', 'person-auth-hsa-loa3', $2, $3, $4, $5, '\\x00', $6, $7, $8)`,
        [
          serial,
          `CN=Someone,serialNumber=${identifier ?? ''}`,
          identifier,
          options.notBefore ?? new Date(now.getTime() - DAY),
          options.notAfter ?? new Date(now.getTime() + 365 * DAY),
          options.revoked ? now : null,
          options.revoked ?? null,
          options.revoked === 'certificateHold',
        ],
      );
      return serial;
    };
    const onCard = async (serial: string, organisation: string, unit: string | null) => {
      const [card] = await db.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, unit_hsa_id, status, ordered_by, ordered_at, updated_at)
         values ('ordinary', 3, '190001019876', $1, $2, $3, 'active', 't', $4, $4) returning id::int`,
        [strangerHsaId(), organisation, unit, now],
      );
      await db.query(`insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, 'auth-hsa', $2, 'person-auth-hsa-loa3')`, [card!.id, serial]);
      return card!.id;
    };
    const revoke = (serial: string) => db.query(`update pki_certificates set revoked_at = $2, revocation_reason = 'keyCompromise', on_hold = false where serial = $1`, [serial, now]);
    const hold = (serial: string) => db.query(`update pki_certificates set revoked_at = $2, revocation_reason = 'certificateHold', on_hold = true where serial = $1`, [serial, now]);
    const release = (serial: string) => db.query(`update pki_certificates set revoked_at = null, revocation_reason = null, on_hold = false where serial = $1 and on_hold`, [serial]);
    /** The directory gets a person with this personnummer. */
    const becomesKnown = (personnummer: string) =>
      db.query(`insert into directory_person (personnummer, given_name, surname, search_name, created_at, updated_at) values ($1, 'Ny', 'Person', ' ny person', $2, $2)`, [personnummer, now]);
    const recorded = async () => (await db.query<{ serial: string }>('select serial from portal_unknown_holder order by serial')).map((r) => r.serial);
    const progress = () => db.query('select issued_at, serial from portal_unknown_holder_progress');
    const listedFor = async (principal: Principal, organisation: string, limit?: number) => (await unknownHolderCertificates(db, principal, organisation, now, limit)).map((c) => c.serial);

    /** The plain exhaustive check: every certificate in force asked about, placed by its card. */
    const oracle = async (principal: Principal, organisation: string, limit = 200) => {
      const inForce = await eidCertificatesInForce(db, now);
      const standings = await holderStandings(db, inForce.flatMap((c) => (c.identifier ? [c.identifier] : [])));
      const unknown = inForce.filter((c) => !c.identifier || !standings.get(c.identifier)!.known);
      const cards = new Map(
        (await db.query<{ serial: string; organisation: string; unit: string | null }>(
          `select pcc.serial, pc.organisation_hsa_id as organisation, pc.unit_hsa_id as unit from portal_card_certificate pcc join portal_card pc on pc.id = pcc.card_id`,
        )).map((r) => [r.serial, r]),
      );
      const ancestors = (unit: string): string[] => {
        const parent = region.units.find((u) => u.hsaId === unit)?.parentUnitHsaId;
        return parent ? [unit, ...ancestors(parent)] : [unit];
      };
      const seen = unknown.filter((c) => {
        const card = cards.get(c.serial);
        if (!card) return 'operator' in principal;
        if (card.organisation !== organisation) return false;
        return 'operator' in principal || may(principal, 'revocation.register', { organisation, units: card.unit ? ancestors(card.unit) : [], protectedIdentity: false });
      });
      return seen.map((c) => c.serial).sort().slice(0, limit);
    };

    it('records the certificates of unknown holders once; a second run finds nothing to do', async () => {
      const stranger = await certificate(strangerPnr());
      const loose = await certificate(strangerHsaId());
      const nameless = await certificate(null);
      const known = await certificate(employeesOf(region, orgA)[3]!.hsaId);
      const knownByPnr = await certificate(employeesOf(region, orgA)[4]!.personnummer);
      await onCard(stranger, orgA, null);
      const first = await run();
      for (const serial of [stranger, loose, nameless]) assert.ok(first['foundUnknown'].serials.includes(serial), serial);
      assert.ok(first['examined'] >= 5);
      assert.deepEqual(await recorded(), [stranger, loose, nameless].sort(), 'only the unknown ones are kept');
      assert.ok(!(await recorded()).includes(known) && !(await recorded()).includes(knownByPnr));
      await minutesPass();
      const where = await progress();
      const second = await run(false, false);
      assert.deepEqual([second['examined'], second['foundUnknown'].count, second['droppedHolderNowKnown'].count, second['droppedNoLongerInForce'].count, second['recordedBefore']], [0, 0, 0, 0, 3]);
      assert.deepEqual(await recorded(), [stranger, loose, nameless].sort());
      assert.deepEqual(await progress(), where);
      assert.deepEqual(await listedFor(adminA, orgA), [stranger]);
      assert.deepEqual(await listedFor(operator, orgA), [stranger, loose, nameless].sort());
    });

    it('drops a certificate once the directory knows its holder, and one revoked; keeps one on hold, listed again when released', async () => {
      const later = strangerPnr();
      const [gettingKnown, revoked, held] = [await certificate(later), await certificate(strangerPnr()), await certificate(strangerPnr())];
      await run();
      const found = await recorded();
      assert.ok([gettingKnown, revoked, held].every((s) => found.includes(s)));
      await becomesKnown(later);
      await revoke(revoked);
      await hold(held);
      const before = await listedFor(operator, orgA);
      assert.ok(![gettingKnown, revoked, held].some((s) => before.includes(s)), 'the page checks the recorded ones again, before the job runs');
      const summary = await run();
      assert.deepEqual(summary['droppedHolderNowKnown'].serials, [gettingKnown]);
      assert.deepEqual(summary['droppedNoLongerInForce'].serials, [revoked]);
      const kept = await recorded();
      assert.ok(!kept.includes(gettingKnown) && !kept.includes(revoked) && kept.includes(held), 'a hold can be released: kept');
      await release(held);
      assert.ok((await listedFor(operator, orgA)).includes(held));
    });

    it('lists a certificate issued after the job ran straight away, and one issued on hold and released', async () => {
      const issuedOnHold = await certificate(strangerPnr(), { revoked: 'certificateHold' });
      const expired = await certificate(strangerPnr(), { notAfter: new Date(now.getTime() - 1000) });
      await minutesPass();
      const fresh = await certificate(strangerPnr());
      await onCard(fresh, orgA, null);
      const summary = await run(false, false);
      assert.ok(!(await recorded()).includes(fresh), 'issued within the last minute: the job leaves it for its next run');
      assert.ok(summary['foundUnknown'].serials.includes(issuedOnHold) && !summary['foundUnknown'].serials.includes(expired));
      assert.ok((await listedFor(adminA, orgA)).includes(fresh), 'checked by the page, since it comes after where the job got to');
      await release(issuedOnHold);
      assert.ok((await listedFor(operator, orgA)).includes(issuedOnHold));
    });

    it('a dry run says what it would do and changes nothing', async () => {
      await run();
      const gettingKnown = strangerPnr();
      const recordedOne = await certificate(gettingKnown);
      await run();
      await becomesKnown(gettingKnown);
      const added = await certificate(strangerPnr());
      await minutesPass();
      const [before, where] = [await recorded(), await progress()];
      const summary = await run(true, false);
      assert.deepEqual(summary['droppedHolderNowKnown'].serials, [recordedOne]);
      assert.deepEqual(summary['foundUnknown'].serials, [added]);
      assert.deepEqual([await recorded(), await progress()], [before, where]);
      const real = await run();
      assert.deepEqual([real['droppedHolderNowKnown'].serials, real['foundUnknown'].serials], [[recordedOne], [added]]);
    });

    it('keeps the scope: by card to its organisation and unit, certificates on no card to operators only', async () => {
      const [inside, outside, ofB, loose] = [await certificate(strangerPnr()), await certificate(strangerPnr()), await certificate(strangerPnr()), await certificate(strangerPnr())];
      await onCard(inside, orgA, insideUnit);
      await onCard(outside, orgA, outsideUnit);
      await onCard(ofB, orgB, null);
      for (const when of ['before the job ran over them', 'after']) {
        const a = await listedFor(adminA, orgA);
        assert.ok(a.includes(inside) && a.includes(outside) && !a.includes(ofB) && !a.includes(loose), when);
        const unit = await listedFor(unitAdmin, orgA);
        assert.ok(unit.includes(inside) && !unit.includes(outside), when);
        assert.deepEqual((await listedFor(adminB, orgB)).filter((s) => [inside, outside, ofB, loose].includes(s)), [ofB], when);
        const operatorSees = await listedFor(operator, orgA);
        assert.ok(operatorSees.includes(inside) && operatorSees.includes(outside) && operatorSees.includes(loose) && !operatorSees.includes(ofB), when);
        await assert.rejects(unknownHolderCertificates(db, adminB, orgA, now), (e) => e instanceof PortalRefused && e.kind === 'forbidden');
        await run();
      }
    });

    it('lists what the exhaustive check lists, over a randomized mix of certificates, directory changes and runs', async () => {
      const random = generator(20261129);
      const strangers: string[] = [];
      let madeKnown = 0;
      const serials: string[] = [];
      const identifiers = () =>
        random.pick<() => string | null>([
          () => strangerPnr(),
          () => strangerPnr(),
          () => strangerHsaId(),
          () => random.pick(employeesOf(region, random.pick([orgA, orgB]))).hsaId,
          () => random.pick(employeesOf(region, orgA)).personnummer,
          () => null,
          () => 'not-an-identifier',
        ])();
      const principals: [string, Principal, string][] = [
        ['administrator of A', adminA, orgA],
        ['unit administrator of A', unitAdmin, orgA],
        ['administrator of B', adminB, orgB],
        ['operator, A', operator, orgA],
        ['operator, B', operator, orgB],
      ];
      for (let step = 0; step < 160; step++) {
        const roll = random.below(100);
        if (roll < 55) {
          const identifier = identifiers();
          const state = random.pick(['in force', 'in force', 'in force', 'expired', 'not yet valid', 'revoked', 'on hold'] as const);
          const serial = await certificate(identifier, {
            ...(state === 'expired' ? { notAfter: new Date(now.getTime() - DAY) } : {}),
            ...(state === 'not yet valid' ? { notBefore: new Date(now.getTime() + DAY) } : {}),
            ...(state === 'revoked' ? { revoked: 'keyCompromise' as const } : state === 'on hold' ? { revoked: 'certificateHold' as const } : {}),
          });
          serials.push(serial);
          if (identifier && /^\d{12}$/.test(identifier)) strangers.push(identifier);
          const place = random.below(5);
          if (place < 2) await onCard(serial, orgA, random.pick([null, insideUnit, outsideUnit]));
          else if (place < 3) await onCard(serial, orgB, null);
        } else if (roll < 65) await revoke(random.pick(serials));
        else if (roll < 72) await hold(random.pick(serials));
        else if (roll < 80) await release(random.pick(serials));
        else if (roll < 88 && strangers.length) {
          const personnummer = strangers.splice(random.below(strangers.length), 1)[0]!;
          if ((await holderStandings(db, [personnummer])).get(personnummer)!.known === false) {
            await becomesKnown(personnummer);
            madeKnown++;
          }
        } else await run(random.below(5) === 0, random.below(4) > 0);
        if (step % 16 === 15) {
          for (const [who, principal, organisation] of principals) {
            assert.deepEqual(await listedFor(principal, organisation), await oracle(principal, organisation), `step ${step}: ${who}`);
            assert.deepEqual(await listedFor(principal, organisation, 3), await oracle(principal, organisation, 3), `step ${step}: ${who}, the first three`);
          }
        }
      }
      await run();
      assert.ok(madeKnown > 0 && (await recorded()).length > 0 && (await oracle(adminA, orgA)).length > 3 && (await oracle(unitAdmin, orgA)).length > 0, 'the mix covers the cases');
      for (const [who, principal, organisation] of principals) assert.deepEqual(await listedFor(principal, organisation), await oracle(principal, organisation), `at the end: ${who}`);
    });
  });
}
