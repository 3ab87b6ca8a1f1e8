import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startSmtpSink, type SmtpSink } from '../../../test/support/smtp.ts';
import { openssl, opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { databaseTargets } from '../../../test/support/stores.ts';
import { loadConfig, type Config } from '../../config/index.ts';
import { unitAncestry, type FunctionObject, type Region } from '../../directory/index.ts';
import { parseSchedule, runJob, type Job, type RunResult } from '../../jobs/index.ts';
import { listOutbox, mailSenderJob, setRecipientLocale } from '../../mail/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import { readAudit, verifyAudit, type AuditEntry } from '../audit.ts';
import type { CardContext } from '../cards/context.ts';
import { handOutAndActivate } from '../cards/handout.ts';
import { SEVEN_STEPS, type IdentityCheck } from '../cards/identity-check.ts';
import { deleteUnfinishedOrder, orderCard } from '../cards/orders.ts';
import { RESERVE_EXTENSION_DAYS, RESERVE_VALID_DAYS } from '../cards/reserve.ts';
import { recordRevocation, revokeBySystem } from '../cards/revocation.ts';
import { batchSigner, CARD_SLOTS, exportBatch, importReturn, type BatchSigner } from '../cards/production.ts';
import { adjustStock } from '../cards/stock.ts';
import { certificatesOf, loadCard, type Card } from '../cards/store.ts';
import { PortalRefused } from '../errors.ts';
import { orderFunctionCertificate, revokeFunctionCertificate } from '../function/certificates.ts';
import { validateDomain } from '../function/domains.ts';
import { authoriseOrderer } from '../function/orderers.ts';
import { appointRole, removeRole } from '../role-store.ts';
import type { Actor, Role } from '../roles.ts';
import { extendMyReserveCard, myEids, reportMyCardLost } from '../self-service/mine.ts';
import { homePage } from '../ui/pages.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import { expiredReserveCardsJob } from './expired-reserve-cards.ts';
import { functionCertificateRemindersJob } from './function-certificate-reminders.ts';
import { retentionJob } from './retention.ts';
import { removalReason, roleRemovalSuggestions, staleRolesJob } from './stale-roles.ts';
import { unactivatedCardsJob } from './unactivated-cards.ts';
import { unfinishedOrdersJob } from './unfinished-orders.ts';

const log = pino({ level: 'silent' });
const DAY = 86_400_000;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const allSteps = Object.fromEntries(SEVEN_STEPS.map((s) => [s, true])) as IdentityCheck['steps'];
const passport: IdentityCheck = { documentType: 'passport', documentNumber: 'AA1234567', documentExpiresOn: '2040-01-01', steps: allSteps };

describe('which role assignments lack a matching commission', () => {
  const inUnit = (careProvider: string, ...careUnitAndAbove: string[]) => ({ careProvider, careUnitAndAbove });
  it('names the first thing missing, and nothing when a commission matches the organisation and the unit', () => {
    assert.equal(removalReason({ organisation: 'SE1', unit: null }, null), 'service identity ended');
    assert.equal(removalReason({ organisation: 'SE1', unit: null }, []), 'no current commission');
    assert.equal(removalReason({ organisation: 'SE1', unit: null }, [inUnit('SE2', 'SE2-U')]), 'no current commission with the organisation');
    assert.equal(removalReason({ organisation: 'SE1', unit: 'SE1-A' }, [inUnit('SE1', 'SE1-B', 'SE1-ROOT')]), 'no current commission in the unit or below it');
    assert.equal(removalReason({ organisation: 'SE1', unit: 'SE1-A' }, [inUnit('SE1', 'SE1-B', 'SE1-ROOT'), inUnit('SE1', 'SE1-C', 'SE1-A')]), null, 'a commission below the unit matches');
    assert.equal(removalReason({ organisation: 'SE1', unit: null }, [inUnit('SE1', 'SE1-B')]), null);
    // A commission of another care provider in a unit of the same HSA-id never matches.
    assert.equal(removalReason({ organisation: 'SE1', unit: 'SE1-A' }, [inUnit('SE2', 'SE1-A')]), 'no current commission with the organisation');
  });
});

for (const target of databaseTargets()) {
  describe(`portal jobs (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let pki: Pki;
    let config: Config;
    let cards: CardContext;
    let signer: BatchSigner;
    let sink: SmtpSink;
    let orgA: string;
    let orgB: string;
    let clock = new Date();
    const start = new Date(Math.floor(Date.now() / 1000) * 1000);
    const now = () => clock;
    const at = (days: number, hours = 0) => (clock = new Date(start.getTime() + days * DAY + hours * 3_600_000));
    const files = scratch();
    const actors: Record<'issuer' | 'admin' | 'adminB', Principal> = {} as never;
    const holders: Region['employees'][number][] = [];
    const run = (job: Job, dryRun = false, node = 'test'): Promise<RunResult> => runJob({ db, log, now, node, leaseMs: 60_000 }, job, { trigger: 'manual', dryRun });
    const summaryOf = (result: RunResult) => {
      assert.equal(result.status, 'succeeded', JSON.stringify(result));
      return (result as Extract<RunResult, { status: 'succeeded' }>).summary as Record<string, any>;
    };
    /** Two nodes whose schedulers find the same job due at the same moment. */
    const twoNodesAtOnce = async (job: Job) => {
      const due = { schedule: parseSchedule('every 1h'), timeZone: 'Europe/Stockholm' };
      const results = await Promise.all(['node-a', 'node-b'].map((node) => runJob({ db, log, now, node, leaseMs: 60_000 }, job, { trigger: 'schedule', dryRun: false, due })));
      const succeeded = results.filter((r) => r.status === 'succeeded');
      assert.equal(succeeded.length, 1, `exactly one node ran it: ${results.map((r) => r.status).join(', ')}`);
      assert.ok(results.every((r) => ['succeeded', 'busy', 'not due'].includes(r.status)), JSON.stringify(results));
      return summaryOf(succeeded[0]!);
    };
    const auditEntries = async () => {
      const entries: AuditEntry[] = [];
      for await (const entry of readAudit(db)) entries.push(entry);
      return entries;
    };
    const count = async (sql: string, params: unknown[] = []) => (await db.query<{ n: number }>(sql, params))[0]!.n;
    /** Everything the portal's jobs may change, to prove a dry run changed nothing. */
    const footprint = async () => ({
      cards: await db.query('select id, status, updated_at from portal_card order by id'),
      revocations: await count('select count(*)::int as n from portal_revocation'),
      audit: await count('select count(*)::int as n from portal_audit'),
      suggestions: await count('select count(*)::int as n from portal_role_removal_suggestion'),
      reminders: await count('select count(*)::int as n from portal_function_certificate_reminder'),
      outbox: await count('select count(*)::int as n from mail_outbox'),
      stock: await count('select count(*)::int as n from portal_stock_movement'),
      pkiRevoked: await count("select count(*)::int as n from pki_certificates where revoked_at is not null and not coalesce(on_hold, false)"),
    });

    const order = async (holder: Region['employees'][number], kind: 'ordinary' | 'reserve', loa: 2 | 3 = 3) =>
      (await orderCard(cards, actors.admin, { kind, loa, holder: holder.hsaId, photo: kind === 'ordinary' ? PNG : null, office: kind === 'reserve' ? holders[0]!.unitHsaId : null })).card;
    const csrsFor = (card: Card) =>
      Object.fromEntries(CARD_SLOTS[card.kind].map((slot) => [slot, opensslCsr(files, `c${card.id}-${slot}`, { subject: `/CN=card key/serialNumber=${slot.endsWith('pnr') ? card.personnummer : card.holder}` })]));
    /** Exports the organisation's ready orders; reads the manufacturer's return unless `returned` is false. */
    const produce = async (returned = true) => {
      const batch = await exportBatch(cards, actors.issuer, orgA, signer);
      if (!returned) return batch;
      const lines = batch.cards.map((card) => JSON.stringify({ order: card.id, cardNumber: `J${String(card.id).padStart(7, '0')}`, csrs: csrsFor(card) }));
      await importReturn(cards, actors.issuer, [JSON.stringify({ format: 'tillit-card-return/1', batch: batch.batchId }), ...lines].join('\n'));
      return batch;
    };

    before(async () => {
      db = await target.open();
      clock = start;
      sink = await startSmtpSink();
      config = loadConfig({
        overrides: {
          dataDir: 'memory://',
          mail: { smtp: { host: '127.0.0.1', port: sink.port, security: 'none', from: 'eid@region.example' } },
          server: { publicBaseUrl: 'https://eid.region.example' },
        },
      });
      region = await seedTestRegion(db, clock);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      pki = await openPki({ config, db, log, now });
      cards = { db, pki, now, config: config.portal };
      const issued = await pki.issueWithNewKey('function-client', { commonName: 'Tillit eID portal batch signer', serialNumber: 'SE2321000008-EIDPORTAL' });
      signer = batchSigner(issued.privateKeyPem, issued.certificatePem);
      const a = employeesOf(region, orgA);
      const b = employeesOf(region, orgB);
      const operator = { operator: 'test' };
      await appointRole(db, operator, { holder: a[0]!.hsaId, role: 'responsible-issuer', organisation: orgA, unit: null, trainedOn: null }, clock);
      await appointRole(db, operator, { holder: a[1]!.hsaId, role: 'id-administrator', organisation: orgA, unit: null, trainedOn: clock }, clock);
      await appointRole(db, operator, { holder: b[0]!.hsaId, role: 'id-administrator', organisation: orgB, unit: null, trainedOn: clock }, clock);
      actors.issuer = await loadActor(db, a[0]!.hsaId, clock, 3650);
      actors.admin = await loadActor(db, a[1]!.hsaId, clock, 3650);
      actors.adminB = await loadActor(db, b[0]!.hsaId, clock, 3650);
      // Adults with a personnummer and one service identity, none holding a role.
      const single = (e: Region['employees'][number]) => region.employees.filter((o) => o.personnummer === e.personnummer).length === 1;
      holders.push(...a.slice(2).filter((e) => single(e) && Number(e.personnummer.slice(0, 4)) < 2000 && Number(e.personnummer.slice(6, 8)) <= 31 && e.mail));
      assert.ok(holders.length >= 13, `enough card holders (${holders.length})`);
    });
    after(async () => {
      files.done();
      await sink?.close();
      await db?.close();
    });

    // Cards, by the holder index: 0 activated on day 99, 1 never activated, 2 a reserve card never activated,
    // 3 an ordinary card sent five days later, 4 in a batch never returned, 5 an order left ordered,
    // 6 a LoA 3 reserve card never confirmed, 7 an order placed on day 50.
    const card: Record<number, Card> = {};
    it('builds the cards: two batches returned, one open, orders waiting', async () => {
      await adjustStock(cards, actors.admin, { organisation: orgA, office: holders[0]!.unitHsaId!, kind: 'received', count: 3 });
      card[0] = await order(holders[0]!, 'ordinary');
      card[1] = await order(holders[1]!, 'ordinary');
      card[2] = await order(holders[2]!, 'reserve', 2);
      await produce();
      at(5);
      card[3] = await order(holders[3]!, 'ordinary');
      await produce();
      at(6);
      card[4] = await order(holders[4]!, 'ordinary');
      await produce(false);
      at(7);
      card[5] = await order(holders[5]!, 'ordinary');
      card[6] = await order(holders[6]!, 'reserve', 3);
      at(50);
      card[7] = await order(holders[7]!, 'ordinary');
      const statuses = await Promise.all(Object.values(card).map(async (c) => (await loadCard(db, c.id)).status));
      assert.deepEqual(statuses, ['sent', 'sent', 'sent', 'sent', 'in-production', 'ordered', 'awaiting-confirmation', 'ordered']);
    });

    it('portal-unfinished-orders: deletes orders never produced past the limit, keeps younger ones and those in an open production batch, returns a reserve card to stock', async () => {
      const job = unfinishedOrdersJob({ pki, config: config.portal });
      at(96);
      // Ordered on day 7: 89 days.
      assert.deepEqual(summaryOf(await run(job, true))['due'], []);
      at(97, 1);
      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(dry['due'].map((d: { order: number }) => d.order), [card[5]!.id, card[6]!.id]);
      assert.deepEqual(dry['keptInOpenProductionBatch'].map((d: { order: number }) => d.order), [card[4]!.id], 'in a batch the manufacturer has: never deleted');
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');
      const stockBefore = await count(`select (sum(case when kind in ('received', 'returned') then count else -count end))::int as n from portal_stock_movement where office_unit_hsa_id = $1`, [holders[0]!.unitHsaId]);

      const summary = summaryOf(await run(job));
      assert.deepEqual(summary['deleted'], [card[5]!.id, card[6]!.id]);
      assert.equal(await count('select count(*)::int as n from portal_card where id = any($1::bigint[])', [[card[5]!.id, card[6]!.id]]), 0, 'the rows (and the photo) are gone');
      assert.equal((await loadCard(db, card[4]!.id)).status, 'in-production');
      assert.equal((await loadCard(db, card[7]!.id)).status, 'ordered', 'placed on day 50: kept');
      const stockAfter = await count(`select (sum(case when kind in ('received', 'returned') then count else -count end))::int as n from portal_stock_movement where office_unit_hsa_id = $1`, [holders[0]!.unitHsaId]);
      assert.equal(stockAfter, stockBefore + 1, 'the reserve card went back to stock');
      const deletions = (await auditEntries()).filter((e) => e.action === 'order.delete');
      assert.deepEqual(deletions.map((e) => [e.target, e.actor, e.after]), [[`card:${card[5]!.id}`, 'system:portal-unfinished-orders', null], [`card:${card[6]!.id}`, 'system:portal-unfinished-orders', null]]);
      assert.equal((deletions[0]!.before as { holder: string }).holder, holders[5]!.hsaId, 'the audit trail says what was deleted');
      assert.equal(JSON.stringify(deletions).includes(PNG.toString('base64')), false, 'never the photo');

      assert.deepEqual(summaryOf(await run(job))['deleted'], [], 'the second run has nothing to do');
      // The rule itself refuses what moved on or is too young, whatever list it was handed.
      assert.equal(await deleteUnfinishedOrder(cards, 'test', card[4]!.id, clock), null, 'in production');
      assert.equal(await deleteUnfinishedOrder(cards, 'test', card[7]!.id, new Date(clock.getTime() - 90 * DAY)), null, 'ordered after the cut-off');
      assert.equal((await loadCard(db, card[7]!.id)).status, 'ordered');
      const reordered = await order(holders[5]!, 'ordinary');
      assert.equal(reordered.status, 'ordered', 'the holder can be ordered a card again');
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('portal-unactivated-cards: a card activated on day 99 stays; on day 100 the unactivated ordinary card is revoked like a registered request; reserve cards and younger cards stay', async () => {
      const job = unactivatedCardsJob({ pki, config: config.portal });
      at(99);
      await handOutAndActivate(cards, actors.admin, { cardId: card[0]!.id, cardNumber: `J${String(card[0]!.id).padStart(7, '0')}`, personnummer: card[0]!.personnummer, check: passport });
      assert.deepEqual(summaryOf(await run(job))['due'], [], 'card 1 was sent 99 days ago: not yet');

      at(100, 1);
      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(dry['due'].map((d: { card: number }) => d.card), [card[1]!.id]);
      assert.deepEqual(dry['revoked'], []);
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');
      const configured = loadConfig({ overrides: { dataDir: 'memory://', portal: { unactivatedCards: { revokeAfterDays: '101' } } } });
      assert.deepEqual(summaryOf(await run(unactivatedCardsJob({ pki, config: configured.portal }), true))['due'], [], 'portal.unactivatedCards.revokeAfterDays moves the limit');

      const summary = await twoNodesAtOnce(job);
      assert.deepEqual(summary['revoked'].map((r: { card: number }) => r.card), [card[1]!.id]);
      assert.equal(summary['revokeAfterDays'], 100);
      const revoked = await loadCard(db, card[1]!.id);
      assert.equal(revoked.status, 'revoked');
      for (const c of await certificatesOf(db, card[1]!.id)) {
        const status = await pki.status(c.serial);
        assert.equal(status?.status, 'revoked');
        assert.equal(status?.reason, 'cessationOfOperation');
      }
      const records = await db.query<{ channel: string; reason: string; received_by: string; reported_by: string; serials: string[]; keep_until: Date }>('select channel, reason, received_by, reported_by, serials, keep_until from portal_revocation where card_id = $1', [card[1]!.id]);
      assert.equal(records.length, 1, 'one revocation record, though two nodes started the job');
      assert.deepEqual([records[0]!.channel, records[0]!.reason, records[0]!.received_by, records[0]!.reported_by], ['system', 'not-activated', 'system:portal-unactivated-cards', 'system:portal-unactivated-cards']);
      assert.equal(records[0]!.serials.length, 4);
      assert.equal(records[0]!.keep_until.getUTCFullYear(), clock.getUTCFullYear() + 10);
      const entry = (await auditEntries()).at(-1)!;
      assert.deepEqual([entry.action, entry.actor, entry.role, entry.target, entry.organisation], ['revocation.register', 'system:portal-unactivated-cards', null, `card:${card[1]!.id}`, orgA]);
      assert.equal((entry.after as { status: string }).status, 'revoked');

      assert.equal((await loadCard(db, card[0]!.id)).status, 'active', 'activated on day 99: kept');
      // Handed out after the job listed it: the card is refused before anything is revoked.
      await assert.rejects(revokeBySystem(cards, 'test', card[0]!.id, 'sent', 'not-activated', 'x'), (error: unknown) => error instanceof PortalRefused && error.kind === 'conflict' && /is active, no longer sent/.test(error.message));
      for (const c of await certificatesOf(db, card[0]!.id)) assert.equal((await pki.status(c.serial))?.status, 'good');
      assert.equal((await loadCard(db, card[2]!.id)).status, 'sent', 'a reserve card is not revoked by this rule');
      assert.equal((await loadCard(db, card[3]!.id)).status, 'sent', 'sent 95 days ago');

      const again = summaryOf(await run(job));
      assert.deepEqual([again['due'], again['revoked']], [[], []], 'the second run has nothing to do');
      at(105, 2);
      assert.deepEqual(summaryOf(await run(job))['revoked'].map((r: { card: number }) => r.card), [card[3]!.id], 'card 3 on its own day 100');
      assert.equal((await verifyAudit(db)).ok, true);
    });

    // More cards, by the holder index: 6 an ordinary card raced by a revocation, 2 an ordinary card handed out
    // before a stale revocation; reserve cards of 1 (reported lost) and 3 (extended once) beside card 2's.
    const more: Record<'raced' | 'handed' | 'lost' | 'extended', Card> = {} as never;
    const cardNumberOf = (c: Card) => `J${String(c.id).padStart(7, '0')}`;
    const handOut = (c: Card) => handOutAndActivate(cards, actors.admin, { cardId: c.id, cardNumber: cardNumberOf(c), personnummer: c.personnummer, check: passport });
    const refusedAs = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => error instanceof PortalRefused && error.kind === kind && pattern.test(error.message);

    it('revocation and hand-out of one card: a hand-out during the revocation is refused and changes nothing; a revocation of a card handed out meanwhile revokes nothing', async () => {
      at(106);
      more.raced = await order(holders[6]!, 'ordinary');
      more.handed = await order(holders[2]!, 'ordinary');
      more.lost = await order(holders[1]!, 'reserve', 2);
      more.extended = await order(holders[3]!, 'reserve', 2);
      await produce();
      for (const c of Object.values(more)) assert.equal((await loadCard(db, c.id)).status, 'sent');

      // The revocation stops inside its transaction (the card locked, the PKI about to revoke) while the card is handed out.
      let entered!: () => void;
      let release!: () => void;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      let lockHolder: number | null = null;
      const gated: CardContext = {
        ...cards,
        pki: {
          ...pki,
          revoke: async (request, within) => {
            if (within && target.name === 'postgres' && lockHolder === null) lockHolder = (await within.query<{ pid: number }>('select pg_backend_pid() as pid'))[0]!.pid;
            entered();
            await released;
            return pki.revoke(request, within);
          },
        },
      };
      const revoking = revokeBySystem(gated, 'test', more.raced.id, 'sent', 'not-activated', 'racing a hand-out');
      await inside;
      const handingOut = handOut(more.raced).then(
        () => 'handed out',
        (error: unknown) => error,
      );
      if (target.name === 'postgres') {
        // Until the hand-out waits on the revocation's lock on the card (PGlite's one connection makes it wait anyway).
        for (let i = 0; ; i++) {
          const [waiting] = await db.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))', [lockHolder]);
          if (waiting!.n > 0) break;
          assert.ok(i < 1000, 'the hand-out waits on the card');
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      release();
      const registered = await revoking;
      const outcome = await handingOut;
      assert.ok(refusedAs('conflict', /is revoked/)(outcome), `the hand-out is refused: ${String(outcome)}`);
      assert.equal(registered.card.status, 'revoked');
      assert.equal((await loadCard(db, more.raced.id)).status, 'revoked');
      assert.equal(await count('select count(*)::int as n from portal_identity_check where card_id = $1', [more.raced.id]), 0, 'no identity check recorded for the refused hand-out');
      for (const c of await certificatesOf(db, more.raced.id)) assert.equal((await pki.status(c.serial))?.status, 'revoked');
      assert.ok(!(await auditEntries()).some((e) => e.action === 'card.hand-out' && e.target === `card:${more.raced.id}`));

      // Handed out after the revocation read the card: the revocation finds it active under the lock and revokes nothing.
      const stale = await loadCard(db, more.handed.id);
      await handOut(more.handed);
      const certificates = await certificatesOf(db, more.handed.id);
      const revocationsBefore = await count('select count(*)::int as n from portal_revocation');
      await assert.rejects(
        recordRevocation(cards, { actor: 'system:test', role: null, organisation: orgA }, stale, certificates, certificates.map((c) => c.serial), {
          reportedBy: 'system:test',
          channel: 'system',
          receivedAt: clock,
          cause: 'not-activated',
          reason: 'cessationOfOperation',
          note: null,
        }),
        refusedAs('conflict', /is active, no longer sent; nothing was revoked/),
      );
      for (const c of certificates) assert.equal((await pki.status(c.serial))?.status, 'good', 'the card handed out keeps good certificates');
      assert.equal(await count('select count(*)::int as n from portal_revocation'), revocationsBefore);
      assert.equal((await loadCard(db, more.handed.id)).status, 'active');
    });

    it('portal-expired-reserve-cards: revokes a reserve card on day 15 after activation, not on day 13; an extended one at the end of its extension; lost ones are left alone', async () => {
      const job = expiredReserveCardsJob({ pki, config: config.portal });
      const selfService = { db, pki, now };
      const reserve = card[2]!;
      for (const c of [reserve, more.lost, more.extended]) await handOut(c);
      const activated = clock;
      at(110);
      const { validUntil } = await extendMyReserveCard(selfService, holders[3]!.hsaId, more.extended.id);
      assert.equal(validUntil.getTime(), activated.getTime() + (RESERVE_VALID_DAYS + RESERVE_EXTENSION_DAYS) * DAY);
      at(112);
      await reportMyCardLost(selfService, holders[1]!.hsaId, more.lost.id);
      assert.deepEqual(summaryOf(await run(job))['due'], [], 'nothing has run out yet');

      at(119);
      assert.deepEqual(summaryOf(await run(job))['revoked'], [], 'day 13 after activation: still valid');
      at(120, -1);
      assert.deepEqual(summaryOf(await run(job))['due'], [], 'the last hour of day 14');

      at(121);
      await assert.rejects(extendMyReserveCard(selfService, holders[2]!.hsaId, reserve.id), refusedAs('conflict', /ran out/), 'too late to extend');
      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(
        dry['due'].map((d: { card: number; validUntil: string; extended: boolean }) => [d.card, d.validUntil, d.extended]),
        [[reserve.id, new Date(activated.getTime() + RESERVE_VALID_DAYS * DAY).toISOString(), false]],
      );
      assert.deepEqual(dry['revoked'], []);
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');

      const summary = await twoNodesAtOnce(job);
      assert.deepEqual(summary['revoked'].map((r: { card: number }) => r.card), [reserve.id]);
      assert.equal((await loadCard(db, reserve.id)).status, 'revoked');
      const serials = (await certificatesOf(db, reserve.id)).map((c) => c.serial);
      assert.equal(serials.length, 4);
      for (const serial of serials) {
        const status = await pki.status(serial);
        assert.deepEqual([status?.status, status?.reason, status?.revokedBy], ['revoked', 'cessationOfOperation', 'system:portal-expired-reserve-cards']);
      }
      // What a relying party sees: OCSP (with a nonce, so a fresh answer) says revoked.
      const caId = (await pki.status(serials[0]!))!.caId as Parameters<Pki['caCertificate']>[0];
      const caFile = files.file('reserve-ca.pem', pki.caCertificate(caId)!.certificate.toString('pem'));
      assert.ok(openssl(['ocsp', '-issuer', caFile, '-serial', `0x${serials[0]}`, '-reqout', files.path('reserve-ocsp.der')]).ok);
      const answer = openssl(['ocsp', '-respin', files.file('reserve-ocsp-resp.der', (await pki.ocsp.respond(files.read('reserve-ocsp.der'))).der), '-resp_text', '-noverify']).output;
      assert.match(answer, /Cert Status: revoked[\s\S]*Reason: cessationOfOperation/);
      const records = await db.query<{ channel: string; reason: string; received_by: string; note: string; keep_until: Date }>('select channel, reason, received_by, note, keep_until from portal_revocation where card_id = $1', [reserve.id]);
      assert.equal(records.length, 1, 'one revocation record, though two nodes started the job');
      assert.deepEqual([records[0]!.channel, records[0]!.reason, records[0]!.received_by], ['system', 'reserve-expired', 'system:portal-expired-reserve-cards']);
      assert.match(records[0]!.note, /reserve card valid until/);
      assert.equal(records[0]!.keep_until.getUTCFullYear(), clock.getUTCFullYear() + 10);
      const entry = (await auditEntries()).at(-1)!;
      assert.deepEqual([entry.action, entry.actor, entry.target, (entry.after as { status: string }).status], ['revocation.register', 'system:portal-expired-reserve-cards', `card:${reserve.id}`, 'revoked']);
      for (const c of await certificatesOf(db, more.extended.id)) assert.equal((await pki.status(c.serial))?.status, 'good', 'the extended card is still good');
      assert.equal((await myEids(selfService, holders[2]!.hsaId)).find((e) => e.card.id === reserve.id)!.card.status, 'revoked', 'the holder sees it revoked');

      const again = summaryOf(await run(job));
      assert.deepEqual([again['due'], again['revoked'], again['skipped']], [[], [], []], 'the second run has nothing to do');

      at(133);
      assert.deepEqual(summaryOf(await run(job))['due'], [], 'extended: valid 28 days from activation');
      at(134, 1);
      const extended = summaryOf(await run(job));
      assert.deepEqual(extended['due'].map((d: { card: number; extended: boolean }) => [d.card, d.extended]), [[more.extended.id, true]]);
      assert.deepEqual(extended['revoked'].map((r: { card: number }) => r.card), [more.extended.id]);
      assert.match((await db.query<{ note: string }>('select note from portal_revocation where card_id = $1', [more.extended.id]))[0]!.note, /extended once/);
      assert.equal((await loadCard(db, more.lost.id)).status, 'revoked');
      assert.deepEqual((await db.query<{ reason: string }>('select reason from portal_revocation where card_id = $1', [more.lost.id])).map((r) => r.reason), ['lost'], 'the lost card keeps its one record');
      assert.equal((await verifyAudit(db)).ok, true);
    });

    it('portal-stale-roles: lists assignments whose holder lost the matching commission for the issuer, removes none, and drops what was resolved', async () => {
      const job = staleRolesJob;
      const operator = { operator: 'test' };
      const appoint = (holder: string, role: Role, organisation: string, unit: string | null = null) => appointRole(db, operator, { holder, role, organisation, unit, trainedOn: role === 'id-administrator' ? clock : null }, clock);
      const [lost, ended, foreign, unitHolder, stays] = holders.slice(8) as [Region['employees'][number], ...Region['employees'][number][]];
      assert.ok(stays, 'five more holders');
      const lostRole = await appoint(lost.hsaId, 'id-administrator', orgA);
      const endedRole = await appoint(ended!.hsaId, 'function-certificate-orderer', orgA);
      const foreignRole = await appoint(foreign!.hsaId, 'security-officer', orgB);
      // A unit of the organisation none of the holder's commissions sits in or below, and one that one does.
      const careUnits = region.commissions.filter((c) => c.serviceIdentityHsaId === unitHolder!.hsaId).map((c) => c.careUnitHsaId);
      const covered = new Set((await Promise.all(careUnits.map((u) => unitAncestry(db, u)))).flatMap((a) => a!.units));
      const elsewhere = region.units.find((u) => u.organisationHsaId === orgA && !covered.has(u.hsaId))!;
      const unitRole = await appoint(unitHolder!.hsaId, 'id-administrator', orgA, elsewhere.hsaId);
      const matchingUnitRole = await appoint(unitHolder!.hsaId, 'deputy-issuer', orgA, careUnits[0]!);
      await appoint(stays!.hsaId, 'id-administrator', orgA);
      // The directory sync saw the first holder's commissions end and the second one's service identity end.
      await db.query('update directory_commission set valid_to = $2 where service_identity_hsa_id = $1', [lost.hsaId, clock]);
      await db.query('update directory_service_identity set valid_to = $2 where hsa_id = $1', [ended!.hsaId, clock]);

      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');
      const expected = [
        [lostRole.id, 'no current commission'],
        [endedRole.id, 'service identity ended'],
        [foreignRole.id, 'no current commission with the organisation'],
        [unitRole.id, 'no current commission in the unit or below it'],
      ].sort((x, y) => Number(x[0]) - Number(y[0]));
      const ofSummary = (list: { assignment: number; reason: string }[]) => list.map((s) => [s.assignment, s.reason]).sort((x, y) => Number(x[0]) - Number(y[0]));
      assert.deepEqual(ofSummary(dry['newlySuggested']), expected);
      assert.ok(!dry['newlySuggested'].some((s: { assignment: number }) => s.assignment === matchingUnitRole.id), 'a commission in the unit: not suggested');

      const first = summaryOf(await run(job));
      assert.deepEqual(ofSummary(first['newlySuggested']), expected);
      assert.equal(await count('select count(*)::int as n from portal_role_assignment where removed_at is not null'), 0, 'nothing removed');

      // The responsible issuer sees the organisation's suggestions; an ID administrator (no role.remove) sees none; another organisation's is refused.
      const listed = await roleRemovalSuggestions(db, actors.issuer, orgA);
      assert.deepEqual(listed.map((s) => [s.assignment.id, s.reason]).sort((x, y) => Number(x[0]) - Number(y[0])), expected.filter(([id]) => id !== foreignRole.id));
      assert.deepEqual(await roleRemovalSuggestions(db, actors.admin, orgA), []);
      await assert.rejects(roleRemovalSuggestions(db, actors.adminB, orgA), (error: unknown) => error instanceof PortalRefused && error.kind === 'forbidden');
      // The issuer's start page lists them, in Swedish by default.
      const session = { hsaId: (actors.issuer as { hsaId: string }).hsaId, name: 'Issuer', csrf: 'x', signedInAt: 0 };
      const home = homePage({ locale: 'sv', currentUrl: '/portal', session }, actors.issuer as Actor, listed);
      assert.match(home, /Roller som föreslås tas bort/);
      assert.match(home, new RegExp(`<td>${unitRole.id}</td><td>${unitHolder!.hsaId}</td><td>id-administrator</td><td>${elsewhere.hsaId}</td><td>Inget gällande medarbetaruppdrag i enheten eller under den</td>`));
      assert.doesNotMatch(homePage({ locale: 'sv', currentUrl: '/portal', session }, actors.issuer as Actor, []), /föreslås tas bort/, 'no section without suggestions');

      const second = summaryOf(await run(job));
      assert.deepEqual([second['newlySuggested'], second['noLongerSuggested']], [[], []], 'the second run has nothing new');
      assert.equal(second['stillSuggested'].length, 4);

      // The issuer removes one; the directory gives the other its commissions back.
      await removeRole(db, actors.issuer, lostRole.id, clock);
      await db.query('update directory_service_identity set valid_to = null where hsa_id = $1', [ended!.hsaId]);
      const third = summaryOf(await run(job));
      assert.deepEqual(third['noLongerSuggested'].sort(), [lostRole.id, endedRole.id].sort());
      assert.deepEqual((await roleRemovalSuggestions(db, actors.issuer, orgA)).map((s) => s.assignment.id), [unitRole.id]);
    });

    it('function-certificate-expiry-reminders: e-mails the orderers at 60, 30 and 7 days, once per step, in their language; not for revoked or unreachable ones', async () => {
      at(110);
      const functions = { db, pki, now };
      const objects = region.functionObjects.filter((f) => f.organisationHsaId === orgA);
      const object = objects.find((f) => f.dnsNames.length > 0) as FunctionObject;
      const [orderer, english, gone] = holders.slice(0, 3) as [Region['employees'][number], Region['employees'][number], Region['employees'][number]];
      const operator = { operator: 'test' };
      for (const h of [orderer, english, gone]) await appointRole(db, operator, { holder: h.hsaId, role: 'function-certificate-orderer', organisation: orgA, unit: null, trainedOn: null }, clock);
      const issuerHsaId = (actors.issuer as { hsaId: string }).hsaId;
      await appointRole(db, operator, { holder: issuerHsaId, role: 'validation-specialist', organisation: orgA, unit: null, trainedOn: null }, clock);
      const issuer = await loadActor(db, issuerHsaId, clock, 3650);
      const domain = object.dnsNames[0]!.split('.').slice(1).join('.');
      await validateDomain(functions, issuer, { organisation: orgA, domain, method: 'dns-txt', evidence: `_tillit.${domain} TXT x`, validUntil: new Date(clock.getTime() + 300 * DAY) });
      for (const h of [orderer, english, gone]) await authoriseOrderer(functions, issuer, object.hsaId, h.hsaId);
      await setRecipientLocale(db, english.mail!, 'en', clock);
      const asOrderer = await loadActor(db, orderer.hsaId, clock, 3650);
      const csr = (name: string) => opensslCsr(files, name, { subject: `/CN=${name}/serialNumber=${object.hsaId}`, san: `DNS:${object.dnsNames[0]}` });
      const certificate = await orderFunctionCertificate(functions, asOrderer, { functionObject: object.hsaId, profile: 'function-server', csrPem: csr('kept') });
      const revoked = await orderFunctionCertificate(functions, asOrderer, { functionObject: object.hsaId, profile: 'function-server', csrPem: csr('revoked') });
      await revokeFunctionCertificate(functions, asOrderer, revoked.serial, 'cessationOfOperation');
      // The third orderer's service identity has ended: nobody is written to there.
      await db.query('update directory_service_identity set valid_to = $2 where hsa_id = $1', [gone.hsaId, clock]);
      // A fourth orderer whose directory address the outbox refuses (two addresses in one): reported, the others still written to.
      const malformed = holders[3]!;
      await appointRole(db, operator, { holder: malformed.hsaId, role: 'function-certificate-orderer', organisation: orgA, unit: null, trainedOn: null }, clock);
      await authoriseOrderer(functions, issuer, object.hsaId, malformed.hsaId);
      await db.query('update directory_service_identity set mail = $2 where hsa_id = $1', [malformed.hsaId, 'a@region.example, b@attacker.example']);

      const job = functionCertificateRemindersJob(config);
      const send = mailSenderJob(config.mail);
      const expiry = certificate.notAfter.getTime();
      const addressOf = (m: (typeof sink.received)[number]) => (m.to && !Array.isArray(m.to) ? m.to.value[0]!.address! : '');
      const mine = () => sink.received.filter((m) => m.subject?.includes(object.hsaId));
      const remind = async (when: Date, nodes: 'one' | 'two' = 'one') => {
        clock = when;
        const summary = nodes === 'two' ? await twoNodesAtOnce(job) : summaryOf(await run(job));
        summaryOf(await run(send));
        return summary;
      };

      await remind(new Date(expiry - 61 * DAY));
      assert.equal(mine().length, 0, 'nothing before the first step');

      clock = new Date(expiry - 60 * DAY + 3_600_000);
      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(dry['reminders'].map((r: { serial: string; step: number }) => [r.serial, r.step]), [[certificate.serial, 60]]);
      assert.equal(dry['queued'], 0);
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');
      assert.equal((await listOutbox(db, { status: 'pending' })).length, 0);

      const first = await remind(new Date(expiry - 60 * DAY + 3_600_000), 'two');
      assert.equal(first['queued'], 2);
      assert.deepEqual(first['reminders'][0].withoutAddress, [gone.hsaId]);
      assert.deepEqual(first['refused'].map((r: { recipient: string }) => r.recipient), ['a@region.example, b@attacker.example']);
      assert.ok(!sink.envelopes.flat().includes('b@attacker.example'), 'nothing went to the smuggled address');
      const sixty = mine();
      assert.deepEqual(sixty.map(addressOf).sort(), [orderer.mail!.toLowerCase(), english.mail!.toLowerCase()].sort(), 'the orderer and the other authorised orderer; not the one who left');
      const sv = sixty.find((m) => addressOf(m) === orderer.mail!.toLowerCase())!;
      const en = sixty.find((m) => addressOf(m) === english.mail!.toLowerCase())!;
      assert.equal(sv.subject, `Funktionscertifikatet för ${object.hsaId} slutar gälla om 60 dagar`);
      assert.match(sv.text!, new RegExp(`slutar gälla den ${new Date(expiry).toISOString().slice(0, 10)}`));
      assert.match(sv.text!, /https:\/\/eid\.region\.example\/portal\/function-certificates/);
      assert.ok(sv.text!.includes(certificate.serial) && sv.text!.includes(object.dnsNames[0]!));
      assert.equal(en.subject, `The function certificate for ${object.hsaId} expires in 60 days`);
      assert.match(en.text!, /submit a new certificate signing request/);
      assert.ok(!mine().some((m) => m.text!.includes(revoked.serial)), 'a revoked certificate gets no reminder');

      await remind(new Date(expiry - 45 * DAY));
      await remind(new Date(expiry - 60 * DAY + 7_200_000));
      assert.equal(mine().length, 2, 'the same step is not sent twice');

      await remind(new Date(expiry - 29 * DAY));
      await remind(new Date(expiry - 20 * DAY));
      await remind(new Date(expiry - 6 * DAY));
      await remind(new Date(expiry - 1 * DAY));
      const toOrderer = mine().filter((m) => addressOf(m) === orderer.mail!.toLowerCase());
      assert.deepEqual(toOrderer.map((m) => m.subject), [60, 29, 6].map((d) => `Funktionscertifikatet för ${object.hsaId} slutar gälla om ${d} dagar`));
      const rows = await db.query<{ step_days: number; recipients: string[] }>('select step_days, recipients from portal_function_certificate_reminder where serial = $1 order by step_days desc', [certificate.serial]);
      assert.deepEqual(rows.map((r) => [r.step_days, r.recipients.length]), [[60, 2], [30, 2], [7, 2]]);
      assert.deepEqual(summaryOf(await run(job))['reminders'], [], 'every step sent: nothing left to do');
    });
    it('portal-retention: purges revocation records past their ten years and never a younger one, even with a clock running ahead', async () => {
      const job = retentionJob;
      const real = Date.now();
      const insert = (registeredAt: Date, keepUntil: Date) =>
        db.query<{ id: number }>(
          `insert into portal_revocation (card_id, personnummer, serials, reported_by, channel, received_at, registered_at, reason, received_by, note, keep_until)
             values (null, '191212121212', '{}', 'the holder', 'phone', $1, $1, 'lost', 'SE1-A', null, $2) returning id`,
          [registeredAt, keepUntil],
        );
      const [old] = await insert(new Date(real - 3660 * DAY), new Date(real - DAY));
      const [young] = await insert(new Date(real - 3640 * DAY), new Date(real + DAY));
      const before = await footprint();
      const dry = summaryOf(await run(job, true));
      assert.deepEqual(dry['revocationRecords'].due.map((r: { id: number }) => r.id), [old!.id]);
      assert.deepEqual(await footprint(), before, 'a dry run changes nothing');

      // The job's clock twenty years ahead: the database's own clock still decides.
      at(20 * 365);
      const summary = summaryOf(await run(job));
      assert.deepEqual(summary['revocationRecords'].purged, [old!.id]);
      const remaining = (await db.query<{ id: number }>('select id from portal_revocation order by id')).map((r) => r.id);
      assert.ok(remaining.includes(young!.id) && !remaining.includes(old!.id));
      assert.equal(remaining.length, before.revocations - 1, 'only the old record went: the young one and those of the cards revoked stay');
      const purge = (await auditEntries()).at(-1)!;
      assert.deepEqual([purge.action, purge.actor], ['revocation.purge', 'system:portal-retention']);
      assert.ok(!JSON.stringify(purge).includes('191212121212'), 'the audit entry keeps no personal data of the purged record');
      await assert.rejects(db.query('delete from portal_revocation where id = $1', [young!.id]), /kept unchanged until/);
      assert.deepEqual(summaryOf(await run(job))['revocationRecords'].purged, [], 'the second run has nothing to do');
      assert.equal(await count('select count(*)::int as n from portal_card where photo is not null and status not in ($1, $2, $3)', ['awaiting-confirmation', 'ordered', 'in-production']), 0);
    });
  });
}
