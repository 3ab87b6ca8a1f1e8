import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets } from '../../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../../test/support/openssl.ts';
import { loadConfig } from '../../config/index.ts';
import type { Region } from '../../directory/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import { readAudit, verifyAudit } from '../audit.ts';
import { PortalRefused } from '../errors.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import type { CardContext } from './context.ts';
import { handOutAndActivate } from './handout.ts';
import { SEVEN_STEPS, type IdentityCheck } from './identity-check.ts';
import { confirmReserve, orderCard, withdrawOrder } from './orders.ts';
import { batchSigner, CARD_SLOTS, exportBatch, importReturn, type BatchSigner } from './production.ts';
import { registerRevocation } from './revocation.ts';
import { adjustStock } from './stock.ts';
import { certificatesOf, loadCard, type Card } from './store.ts';

const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const refused = (kind: PortalRefused['kind'], pattern: RegExp) => (error: unknown) => {
  assert.ok(error instanceof PortalRefused, `expected PortalRefused, got ${String(error)}`);
  assert.equal(error.kind, kind, error.message);
  assert.match(error.message, pattern);
  return true;
};
/** A time as OpenSSL prints it: "Nov  9 13:02:03 2026 GMT". */
const opensslTime = (date: Date) => {
  const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+)/.exec(date.toUTCString())!;
  return `${month}\\s+${Number(day)} ${time} ${year} GMT`;
};
const allSteps = Object.fromEntries(SEVEN_STEPS.map((s) => [s, true])) as IdentityCheck['steps'];
const passport: IdentityCheck = { documentType: 'passport', documentNumber: 'AA1234567', documentExpiresOn: '2031-01-01', steps: allSteps };

for (const target of databaseTargets()) {
  describe(`card lifecycle: order, four eyes, production, hand-out, revocation (${target.name})`, () => {
    let db: Database;
    let region: Region;
    let pki: Pki;
    let context: CardContext;
    let signer: BatchSigner;
    let orgA: string;
    let orgB: string;
    let clock = new Date();
    const files = scratch();
    const config = loadConfig({ overrides: { dataDir: 'memory://' } });
    const actors: Record<'issuer' | 'adminA' | 'adminA2' | 'adminB', Principal> = {} as never;
    let holder: Region['employees'][number];
    let reserveHolder: Region['employees'][number];
    const cards: Record<string, Card> = {};

    const reload = async (name: keyof typeof actors, hsaId: string) => (actors[name] = await loadActor(db, hsaId, clock, 365));
    const csr = (name: string, serialNumber?: string) => opensslCsr(files, name, { subject: `/CN=card key${serialNumber ? `/serialNumber=${serialNumber}` : ''}` });
    const certificateCount = async () => (await db.query<{ n: number }>('select count(*) as n from pki_certificates')).at(0)!.n;

    before(async () => {
      db = await target.open();
      clock = new Date();
      region = await seedTestRegion(db, clock);
      [orgA, orgB] = region.organisations.map((o) => o.hsaId) as [string, string];
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => clock });
      context = { db, pki, now: () => clock, config: config.portal };
      const issued = await pki.issueWithNewKey('function-client', { commonName: 'Tillit eID portal batch signer', serialNumber: 'SE2321000008-EIDPORTAL' });
      signer = batchSigner(issued.privateKeyPem, issued.certificatePem);
      const a = employeesOf(region, orgA);
      const b = employeesOf(region, orgB);
      const operator = { operator: 'test' };
      const appoint = (holderHsaId: string, role: 'responsible-issuer' | 'id-administrator', organisation: string) =>
        appointRole(db, operator, { holder: holderHsaId, role, organisation, unit: null, trainedOn: role === 'id-administrator' ? clock : null }, clock);
      await appoint(a[0]!.hsaId, 'responsible-issuer', orgA);
      await appoint(a[1]!.hsaId, 'id-administrator', orgA);
      await appoint(a[2]!.hsaId, 'id-administrator', orgA);
      await appoint(b[0]!.hsaId, 'id-administrator', orgB);
      await reload('issuer', a[0]!.hsaId);
      await reload('adminA', a[1]!.hsaId);
      await reload('adminA2', a[2]!.hsaId);
      await reload('adminB', b[0]!.hsaId);
      // Adults with a personnummer: the generated region has some; pick two not holding roles.
      const adults = a.slice(3).filter((e) => Number(e.personnummer.slice(0, 4)) < 2000 && Number(e.personnummer.slice(6, 8)) <= 31);
      holder = adults[0]!;
      reserveHolder = adults.find((e) => e.personnummer !== holder.personnummer)!;
    });
    after(async () => {
      files.done();
      await db.close();
    });

    it('orders an ordinary card with a photo, refusing what is not allowed and writing nothing then', async () => {
      const order = { kind: 'ordinary' as const, loa: 3 as const, holder: holder.hsaId, photo: PNG, office: null };
      await assert.rejects(orderCard(context, actors.adminB, order), refused('forbidden', /order\.create in SE/));
      await assert.rejects(orderCard(context, actors.issuer, order), refused('forbidden', /order\.create/));
      await assert.rejects(orderCard(context, actors.adminA, { ...order, photo: null }), refused('invalid', /needs a photo/));
      await assert.rejects(orderCard(context, actors.adminA, { ...order, photo: new TextEncoder().encode('<svg onload="alert(1)"/>') }), refused('invalid', /not a JPEG or PNG/));
      await assert.rejects(orderCard(context, actors.adminA, { ...order, holder: 'SE2321000008-NOPE' }), refused('not-found', /no current service identity/));
      const { card } = await orderCard(context, actors.adminA, order);
      assert.equal(card.status, 'ordered');
      assert.equal(card.hasPhoto, true);
      await assert.rejects(orderCard(context, actors.adminA2, order), refused('conflict', /already has an open ordinary order/));
      cards['ordinary'] = card;
      const [{ n }] = (await db.query<{ n: number }>('select count(*) as n from portal_card')) as [{ n: number }];
      assert.equal(n, 1);
    });

    it('draws a LoA 3 reserve card from the office stock and needs a second ID administrator to confirm it', async () => {
      const office = holder.unitHsaId!;
      const order = { kind: 'reserve' as const, loa: 3 as const, holder: reserveHolder.hsaId, photo: null, office };
      await assert.rejects(orderCard(context, actors.adminA, order), refused('conflict', /has 0 reserve card\(s\) in stock/));
      const stocked = await adjustStock(context, actors.adminA, { organisation: orgA, office, kind: 'received', count: 3 });
      assert.equal(stocked.remaining, 3);
      await assert.rejects(adjustStock(context, actors.adminB, { organisation: orgA, office, kind: 'received', count: 3 }), refused('forbidden', /stock\.manage/));
      const { card, stock } = await orderCard(context, actors.adminA, order);
      assert.equal(card.status, 'awaiting-confirmation');
      assert.deepEqual([stock!.remaining, stock!.issued, stock!.low], [2, 1, true]);
      await assert.rejects(confirmReserve(context, actors.adminA, card.id), refused('forbidden', /second, different ID administrator/));
      await assert.rejects(confirmReserve(context, actors.adminB, card.id), refused('forbidden', /order\.confirm-reserve/));
      const confirmed = await confirmReserve(context, actors.adminA2, card.id);
      assert.equal(confirmed.status, 'ordered');
      assert.equal(confirmed.confirmedBy, (actors.adminA2 as { hsaId: string }).hsaId);
      await assert.rejects(confirmReserve(context, actors.adminA2, card.id), refused('conflict', /only a reserve card awaiting confirmation/));
      cards['reserve'] = confirmed;
    });

    it('withdraws an order until produced, returning a reserve card to stock', async () => {
      const office = holder.unitHsaId!;
      const { card } = await orderCard(context, actors.adminA, { kind: 'reserve', loa: 2, holder: holder.hsaId, photo: null, office });
      assert.equal(card.status, 'ordered', 'LoA 2 needs no second administrator');
      await assert.rejects(withdrawOrder(context, actors.adminB, card.id), refused('forbidden', /order\.withdraw/));
      const withdrawn = await withdrawOrder(context, actors.adminA, card.id);
      assert.equal(withdrawn.status, 'withdrawn');
      await assert.rejects(withdrawOrder(context, actors.adminA, card.id), refused('conflict', /only until the card is produced/));
      const stock = await adjustStock(context, actors.adminA, { organisation: orgA, office, kind: 'discarded', count: 1 });
      assert.deepEqual([stock.received, stock.issued, stock.returned, stock.discarded, stock.remaining], [3, 2, 1, 1, 1]);
    });

    let batch: Awaited<ReturnType<typeof exportBatch>>;
    it('exports ready orders as a signed batch that OpenSSL verifies with the signer’s certificate', async () => {
      await assert.rejects(exportBatch(context, actors.adminA, orgA, signer), refused('forbidden', /production\.export/));
      batch = await exportBatch(context, actors.issuer, orgA, signer);
      assert.deepEqual(batch.cards.map((c) => [c.id, c.status]), [[cards['ordinary']!.id, 'in-production'], [cards['reserve']!.id, 'in-production']]);
      const lines = batch.jsonl.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(lines[0], { format: 'tillit-card-batch/1', batch: batch.batchId, organisation: orgA, exportedAt: clock.toISOString(), cards: 2 });
      assert.equal((lines[1]!['photo'] as { file: string }).file, `photos/${cards['ordinary']!.id}.png`);
      assert.deepEqual(batch.photos.map((p) => Buffer.from(p.bytes).equals(PNG)), [true]);
      const cert = files.file('signer.pem', batch.signerCertificatePem);
      const publicKey = files.file('signer.pub', openssl(['x509', '-in', cert, '-noout', '-pubkey']).output);
      const data = files.file('batch.jsonl', batch.jsonl);
      const signature = files.file('batch.sig', Buffer.from(batch.signature, 'base64'));
      assert.match(openssl(['dgst', '-sha256', '-verify', publicKey, '-signature', signature, data]).output, /Verified OK/);
      files.file('tampered.jsonl', batch.jsonl.replace('"loa":3', '"loa":2'));
      assert.equal(openssl(['dgst', '-sha256', '-verify', publicKey, '-signature', signature, files.path('tampered.jsonl')]).ok, false);
      await assert.rejects(exportBatch(context, actors.issuer, orgA, signer), refused('conflict', /no orders .* are ready/));
    });

    let returnFile: string;
    it('refuses a bad return file and issues nothing: wrong person, one key twice, a broken CSR, a missing card', async () => {
      const header = JSON.stringify({ format: 'tillit-card-return/1', batch: batch.batchId });
      const lineFor = (card: Card, number: string, csrs: Record<string, string>) => JSON.stringify({ order: card.id, cardNumber: number, csrs });
      const csrsFor = (card: Card, prefix: string) =>
        Object.fromEntries(CARD_SLOTS[card.kind].map((slot) => [slot, csr(`${prefix}-${card.id}-${slot}`, slot.endsWith('pnr') ? card.personnummer : card.holder)]));
      const ordinary = csrsFor(cards['ordinary']!, 'o');
      const reserve = csrsFor(cards['reserve']!, 'r');
      const before = await certificateCount();
      const attempt = (...lines: string[]) => importReturn(context, actors.issuer, [header, ...lines].join('\n'));
      await assert.rejects(importReturn(context, actors.adminA, [header, lineFor(cards['ordinary']!, 'A0000001', ordinary), lineFor(cards['reserve']!, 'A0000002', reserve)].join('\n')), refused('forbidden', /production\.import/));
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', { ...ordinary, 'auth-hsa': reserve['auth-hsa']! }), lineFor(cards['reserve']!, 'A0000002', reserve)), refused('invalid', /names .*not the order's/));
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', { ...ordinary, 'sign-hsa': ordinary['auth-hsa']! }), lineFor(cards['reserve']!, 'A0000002', reserve)), refused('invalid', /same key is also given for order \d+ auth-hsa/));
      const broken = ordinary['auth-pnr']!.replace(/(\n[A-Za-z0-9+/]{10})[A-Za-z0-9+/]/, (m, p: string) => `${p}${m.endsWith('A') ? 'B' : 'A'}`);
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', { ...ordinary, 'auth-pnr': broken }), lineFor(cards['reserve']!, 'A0000002', reserve)), refused('invalid', /auth-pnr: the CSR/));
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', ordinary)), refused('invalid', /lacks order\(s\) \d+/));
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', ordinary), lineFor(cards['reserve']!, 'A0000001', reserve)), refused('invalid', /card number A0000001 appears twice/));
      await assert.rejects(attempt(lineFor(cards['ordinary']!, 'A0000001', { 'auth-hsa': ordinary['auth-hsa']! }), lineFor(cards['reserve']!, 'A0000002', reserve)), refused('invalid', /missing sign-hsa, auth-pnr, sign-pnr/));
      await assert.rejects(importReturn(context, actors.issuer, 'not json'), refused('invalid', /line 1 is not JSON/));
      assert.equal(await certificateCount(), before, 'no certificate was issued');
      assert.equal((await loadCard(db, cards['ordinary']!.id)).status, 'in-production');
      returnFile = [header, lineFor(cards['ordinary']!, 'A0000001', ordinary), lineFor(cards['reserve']!, 'A0000002', reserve)].join('\n');
    });

    it('reads the return file: certificates on hold, cards sent, photos purged; the same file again is refused', async () => {
      const result = await importReturn(context, actors.issuer, returnFile);
      assert.deepEqual(result.produced.map((c) => [c.status, c.cardNumber, c.hasPhoto]), [['sent', 'A0000001', false], ['sent', 'A0000002', false]]);
      const [{ photos }] = (await db.query<{ photos: number }>('select count(*) as photos from portal_card where photo is not null')) as [{ photos: number }];
      assert.equal(photos, 0);
      const certificates = await certificatesOf(db, cards['ordinary']!.id);
      assert.deepEqual(certificates.map((c) => c.profile).sort(), ['person-auth-hsa-loa3', 'person-auth-pnr-loa3', 'person-sign-hsa-loa3', 'person-sign-pnr-loa3']);
      for (const c of certificates) assert.equal((await pki.status(c.serial))?.status, 'on-hold');
      // The card records when its last certificate ends: the reports count it expired from then.
      const ends = await Promise.all(certificates.map(async (c) => (await pki.status(c.serial))!.notAfter.getTime()));
      const [recorded] = await db.query<{ at: Date }>('select certificates_not_after as at from portal_card where id = $1', [cards['ordinary']!.id]);
      assert.equal(recorded!.at.getTime(), Math.max(...ends));
      assert.deepEqual((await certificatesOf(db, cards['reserve']!.id)).map((c) => c.profile).sort(), ['person-auth-hsa-loa3', 'person-auth-pnr-loa3', 'person-sign-hsa-loa3', 'person-sign-pnr-loa3']);
      await assert.rejects(importReturn(context, actors.issuer, returnFile), refused('conflict', /already read for batch/));
      await assert.rejects(importReturn(context, actors.issuer, `${returnFile}\n`), refused('conflict', /already returned/));
      cards['ordinary'] = await loadCard(db, cards['ordinary']!.id);
    });

    it('hands out and activates only the holder’s own card, after every step of the identity check, by an administrator of its organisation', async () => {
      const card = cards['ordinary']!;
      const request = { cardId: card.id, cardNumber: 'A0000001', personnummer: card.personnummer, check: passport };
      await assert.rejects(handOutAndActivate(context, actors.adminB, request), refused('forbidden', /card\.hand-out in SE/));
      await assert.rejects(handOutAndActivate(context, actors.issuer, request), refused('forbidden', /card\.hand-out/));
      await assert.rejects(handOutAndActivate(context, actors.adminA, { ...request, personnummer: reserveHolder.personnummer }), refused('forbidden', /belongs to another person/));
      await assert.rejects(handOutAndActivate(context, actors.adminA, { ...request, cardNumber: 'A0000002' }), refused('invalid', /has card number A0000001, not A0000002/));
      await assert.rejects(handOutAndActivate(context, actors.adminA, { ...request, check: { ...passport, steps: { ...allSteps, 'security-features': false } } }), refused('invalid', /step not done: security-features/));
      assert.equal((await loadCard(db, card.id)).status, 'sent');
      const active = await handOutAndActivate(context, actors.adminA, request);
      assert.equal(active.status, 'active');
      for (const c of await certificatesOf(db, card.id)) assert.equal((await pki.status(c.serial))?.status, 'good');
      await assert.rejects(handOutAndActivate(context, actors.adminA, request), refused('conflict', /already active/));
      cards['ordinary'] = active;
    });

    it('registers a revocation received during an outage: revoked with that invalidity date, kept ten years, not deletable', async () => {
      const card = cards['ordinary']!;
      // The request came in two hours before it could be registered (the portal was down), a day after the card was ordered.
      clock = new Date(clock.getTime() + 86_400_000);
      const received = new Date(Math.floor((clock.getTime() - 2 * 3_600_000) / 1000) * 1000);
      const base = { cardId: card.id, serials: [], reportedBy: 'the holder, by phone 070-123 45 67', channel: 'phone' as const, receivedAt: received, cause: 'lost' as const, note: 'logged on paper during the outage' };
      await assert.rejects(registerRevocation(context, actors.adminB, base), refused('forbidden', /revocation\.register/));
      await assert.rejects(registerRevocation(context, actors.adminA, { ...base, receivedAt: new Date(clock.getTime() + 60_000) }), refused('invalid', /cannot be in the future/));
      await assert.rejects(registerRevocation(context, actors.adminA, { ...base, serials: ['0abc'] }), refused('invalid', /not on card/));
      const registered = await registerRevocation(context, actors.adminA, base);
      assert.equal(registered.card.status, 'revoked');
      assert.equal(registered.keepUntil.getUTCFullYear(), clock.getUTCFullYear() + 10);
      for (const serial of registered.serials) {
        const status = await pki.status(serial);
        assert.equal(status?.status, 'revoked');
        assert.equal(status?.reason, 'keyCompromise');
        assert.equal(status?.invalidityDate?.toISOString(), received.toISOString());
      }
      // The CRL, read by OpenSSL, carries the time the request was received.
      const caId = (await pki.status(registered.serials[0]!))!.caId as Parameters<Pki['currentCrl']>[0];
      // A CRL build started by an earlier revocation may still be running; the call after it sees every revocation.
      await pki.currentCrl(caId);
      const crl = files.file('card.crl', (await pki.currentCrl(caId)).der);
      const text = openssl(['crl', '-inform', 'DER', '-in', crl, '-noout', '-text']).output;
      assert.match(text, new RegExp(`Serial Number: ${registered.serials[0]!.toUpperCase()}[\\s\\S]*?Invalidity Date:\\s+${opensslTime(received)}`));
      await assert.rejects(db.query('delete from portal_revocation where id = $1', [registered.id]), /kept unchanged until/);
      await assert.rejects(db.query(`update portal_revocation set reason = 'damaged' where id = $1`, [registered.id]), /kept unchanged until/);
    });

    it('recorded every change in an intact audit trail', async () => {
      const actions: string[] = [];
      for await (const entry of readAudit(db)) actions.push(entry.action);
      assert.deepEqual(actions.slice(4), [
        'order.create',
        'stock.received',
        'order.create',
        'order.confirm-reserve',
        'order.create',
        'order.withdraw',
        'stock.discarded',
        'production.export',
        'card.produced',
        'card.produced',
        'production.import',
        'card.hand-out',
        'revocation.register',
      ]);
      assert.equal((await verifyAudit(db)).ok, true);
    });
  });
}
