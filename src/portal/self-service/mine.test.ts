import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { loadConfig } from '../../config/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { verifyAudit } from '../audit.ts';
import { PortalRefused } from '../errors.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { RESERVE_EXTENSION_DAYS, RESERVE_VALID_DAYS } from '../cards/reserve.ts';
import { extendMyReserveCard, myEids, reportMyCardLost, type SelfServiceContext } from './mine.ts';

const DAY_MS = 86_400_000;
const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};

for (const target of databaseTargets()) {
  describe(`self-service: my eIDs, report lost, extend a reserve card once (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let context: SelfServiceContext;
    const clock = new Date();
    let me: { hsaId: string; personnummer: string; organisationHsaId: string };
    let someoneElse: { hsaId: string; personnummer: string; organisationHsaId: string };
    const cards: Record<'ordinary' | 'reserve' | 'theirs', { id: number; serial: string }> = {} as never;

    /** An active card as hand-out leaves it (the lifecycle itself is tested in cards/), with one certificate from the PKI. */
    const activeCard = async (holder: typeof me, kind: 'ordinary' | 'reserve') => {
      const issued = await pki.issueWithNewKey('person-auth-hsa-loa2', { commonName: 'Card Holder', givenName: 'Card', surname: 'Holder', serialNumber: holder.hsaId });
      const [row] = await db.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, activated_by, activated_at, updated_at)
           values ($1, 2, $2, $3, $4, 'active', 'test', $5, 'test', $5, $5) returning id`,
        [kind, holder.personnummer, holder.hsaId, holder.organisationHsaId, clock],
      );
      await db.query(`insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, 'auth-hsa', $2, 'person-auth-hsa-loa2')`, [row!.id, issued.serial]);
      return { id: row!.id, serial: issued.serial };
    };

    before(async () => {
      db = await target.open();
      const region = await seedTestRegion(db, clock);
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      context = { db, pki, now: () => clock };
      const staff = employeesOf(region, region.organisations[0]!.hsaId);
      [me, someoneElse] = [staff[0]!, staff.find((e) => e.personnummer !== staff[0]!.personnummer)!];
      cards.ordinary = await activeCard(me, 'ordinary');
      cards.reserve = await activeCard(me, 'reserve');
      cards.theirs = await activeCard(someoneElse, 'ordinary');
    });
    after(async () => {
      await db.close();
    });

    it('shows my eIDs and their status, and nobody else\'s', async () => {
      const mine = await myEids(context, me.hsaId);
      assert.deepEqual(mine.map((e) => e.card.id).sort(), [cards.ordinary.id, cards.reserve.id].sort());
      assert.ok(mine.every((e) => e.certificates.every((c) => c.status === 'good')));
      const reserve = mine.find((e) => e.card.kind === 'reserve')!;
      assert.deepEqual(reserve.reserve, { validUntil: new Date(clock.getTime() + RESERVE_VALID_DAYS * DAY_MS), extended: false });
      await assert.rejects(myEids(context, 'SE0000000000-NOBODY'), refused('forbidden', /not a current service identity/));
    });

    it('extends my reserve card once; a second extension, an ordinary card or another\'s card is refused with the reason', async () => {
      await assert.rejects(extendMyReserveCard(context, me.hsaId, cards.ordinary.id), refused('invalid', /not a reserve card/));
      await assert.rejects(extendMyReserveCard(context, someoneElse.hsaId, cards.reserve.id), refused('not-found', /you have no card/));
      const { validUntil } = await extendMyReserveCard(context, me.hsaId, cards.reserve.id);
      assert.equal(validUntil.getTime(), clock.getTime() + (RESERVE_VALID_DAYS + RESERVE_EXTENSION_DAYS) * DAY_MS);
      await assert.rejects(extendMyReserveCard(context, me.hsaId, cards.reserve.id), refused('conflict', /already extended once/));
      assert.deepEqual((await myEids(context, me.hsaId)).find((e) => e.card.kind === 'reserve')!.reserve, { validUntil, extended: true });
    });

    it('reports my card lost: revoked at once in the PKI, recorded as a revocation request; another\'s card untouched', async () => {
      await assert.rejects(reportMyCardLost(context, me.hsaId, cards.theirs.id), refused('not-found', /you have no card/));
      assert.equal((await pki.status(cards.theirs.serial))?.status, 'good');
      const reported = await reportMyCardLost(context, me.hsaId, cards.ordinary.id);
      assert.deepEqual(reported.serials, [cards.ordinary.serial]);
      const status = await pki.status(cards.ordinary.serial);
      assert.equal(status?.status, 'revoked');
      assert.equal(status?.reason, 'keyCompromise');
      const [request] = await db.query<{ channel: string; reason: string; reported_by: string }>('select channel, reason, reported_by from portal_revocation where id = $1', [reported.revocationId]);
      assert.deepEqual(request, { channel: 'self-service', reason: 'lost', reported_by: me.hsaId });
      const [entry] = await db.query<{ action: string; actor: string; after: { status: string; revocation: { id: number; cause: string; reason: string } } }>('select action, actor, after from portal_audit order by seq desc limit 1');
      assert.deepEqual([entry!.action, entry!.actor, entry!.after.status, entry!.after.revocation.id, entry!.after.revocation.cause, entry!.after.revocation.reason], ['self-service.report-lost', me.hsaId, 'revoked', reported.revocationId, 'lost', 'keyCompromise']);
      await assert.rejects(reportMyCardLost(context, me.hsaId, cards.ordinary.id), refused('conflict', /is revoked/));
      const ordinary = (await myEids(context, me.hsaId)).find((e) => e.card.id === cards.ordinary.id)!;
      assert.equal(ordinary.card.status, 'revoked');
      assert.equal(ordinary.certificates[0]!.status, 'revoked');
      assert.equal((await verifyAudit(db)).ok, true);
    });
  });
}
