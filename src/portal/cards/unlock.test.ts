import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, randomUUID, verify, X509Certificate } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { databaseTargets, ephemeralTargets } from '../../../test/support/stores.ts';
import { certificateRequest, KeyStoreError, openKeyStore, type KeyStore } from '../../app/index.ts';
import { createAnswerVerifier, createEnrolmentService, createOrderService, type OrderService } from '../../authn/index.ts';
import { loadConfig } from '../../config/index.ts';
import { loginAttributes, type Region } from '../../directory/index.ts';
import { openPki, type Pki } from '../../pki/index.ts';
import type { Database } from '../../store/index.ts';
import { loadActor } from '../access.ts';
import { PortalRefused } from '../errors.ts';
import { appointRole } from '../role-store.ts';
import { employeesOf, seedTestRegion } from '../testing.ts';
import type { CardContext } from './context.ts';
import { cardAdminKey, startCardUnlock, startUnlockLogin, unlockableCard, unlockCard } from './unlock.ts';

const now = new Date('2026-05-01T09:00:00Z');
const PIN = '123456';
const refusedAs = (kind: string) => (e: unknown) => e instanceof PortalRefused && e.kind === kind;

for (const target of databaseTargets()) {
  describe(`card unlock after a mobile eID login, with the app playing the card (${target.name})`, () => {
    let db: Database;
    let pki: Pki;
    let region: Region;
    let orders: OrderService;
    let context: CardContext;
    let org: string;
    before(async () => {
      db = await target.open();
      region = await seedTestRegion(db, now);
      org = region.organisations[0]!.hsaId;
      const config = loadConfig({ overrides: { dataDir: 'memory://' } });
      pki = await openPki({ config, db, log: pino({ level: 'silent' }), now: () => now });
      const anchors = (['root', 'person-hsa-loa3', 'person-pnr-loa3', 'mobile', 'person-hsa-loa2', 'person-pnr-loa2'] as const).map((id) => pki.caCertificate(id)!.certificate.toString('pem'));
      const verifyAnswer = createAnswerVerifier({
        trust: { anchors, policyLoa: pki.policyLoa, revocationStatus: (certificate) => pki.revocationStatusOf(certificate) },
        now: () => now,
        resolvePerson: async (identifier) => {
          const person = await loginAttributes(db, identifier);
          return person ? { personalIdentityNumber: person.personnummer, givenName: person.givenName, surname: person.surname, name: `${person.givenName} ${person.surname}` } : undefined;
        },
      });
      orders = createOrderService({ store: await ephemeralTargets()[0]!.open(), verifyAnswer, now: () => Date.now() });
      context = { db, pki, now: () => now, config: config.portal };
    });
    after(async () => {
      await db.close();
    });

    const home = () => mkdtemp(join(tmpdir(), 'tillit-unlock-'));
    /** An active card in the portal for the employee, and the app holding its key as the card. */
    const cardFor = async (employee: { hsaId: string; personnummer: string }) => {
      const issued = await pki.issueWithNewKey('person-auth-hsa-loa3', { commonName: 'Card Holder', givenName: 'Card', surname: 'Holder', serialNumber: employee.hsaId });
      const [row] = await db.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ('ordinary', 3, $1, $2, $3, 'active', 't', $4, $4) returning id::int`,
        [employee.personnummer, employee.hsaId, org, now],
      );
      const app = await openKeyStore(await home());
      const appCardId = randomUUID();
      const credential = await app.importKey('card', 'Kort', PIN, createPrivateKey(issued.privateKeyPem), issued.certificatePem, issued.chainPem, { cardId: appCardId, uses: ['auth'] });
      // The manufacturer writes the portal's admin key for this card onto the chip.
      await app.setCardAdminKey(appCardId, await cardAdminKey(db, now, row!.id));
      return { cardId: row!.id, app, appCardId, credential, certificatePem: issued.certificatePem };
    };
    /** The holder's phone: an eID app with a mobile eID enrolled for them. */
    const phoneOf = async (personnummer: string) => {
      const phone = await openKeyStore(await home());
      const enrolment = createEnrolmentService({ db, pki, now: () => now });
      const key = await phone.createKey('mobile', 'Telefon', PIN);
      const issued = await enrolment.redeem((await enrolment.createCode(personnummer, 'test')).code, await certificateRequest(key.publicKey, key.privateKey));
      await phone.attachCertificate(key.id, issued.certificatePem, issued.chainPem);
      return { phone, id: key.id, certificatePem: issued.certificatePem };
    };
    /** The portal starts a login; the holder approves it in the phone's app. */
    const login = async (holder: { phone: KeyStore; id: string; certificatePem: string }) => {
      const tokens = await startUnlockLogin(orders, '127.0.0.1');
      const challenge = await orders.claimByAutoStartToken(tokens.autoStartToken);
      const signature = (await holder.phone.sign(holder.id, PIN, Buffer.from(challenge.toSign, 'base64'))).toString('base64');
      assert.equal((await orders.answer(tokens.orderRef, challenge.nonce, { signature, certificatePem: holder.certificatePem })).status, 'complete');
      return tokens.orderRef;
    };
    const lock = async (card: Awaited<ReturnType<typeof cardFor>>) => {
      for (let i = 0; i < 3; i++) await assert.rejects(card.app.sign(card.credential, '000000', Buffer.from('x')), KeyStoreError);
      await assert.rejects(card.app.sign(card.credential, PIN, Buffer.from('x')), (e) => e instanceof KeyStoreError && e.code === 'locked');
    };

    it('a card locked by three wrong PINs is unlocked after the holder logs in with their mobile eID, and works again', async () => {
      const holder = employeesOf(region, org)[0]!;
      const card = await cardFor(holder);
      await lock(card);
      const orderRef = await login(await phoneOf(holder.personnummer));
      const challenge = await card.app.unlockChallenge(card.appCardId);
      const { response } = await unlockCard(context, orders, null, { cardId: card.cardId, orderRef, challenge });
      await card.app.unlockCard(card.appCardId, response);
      const data = Buffer.from('after the unlock');
      const signature = await card.app.sign(card.credential, PIN, data);
      assert.ok(verify('sha256', data, new X509Certificate(card.certificatePem).publicKey, signature), 'the card signs again with its own key');
      const [audit] = await db.query<{ actor: string; target: string }>("select actor, target from portal_audit where action = 'card.unlock' and target = $1", [`card:${card.cardId}`]);
      assert.equal(audit?.actor, `holder:${holder.personnummer}`);
      // One login unlocks once.
      await assert.rejects(unlockCard(context, orders, null, { cardId: card.cardId, orderRef, challenge: await card.app.unlockChallenge(card.appCardId) }), refusedAs('conflict'));
    });

    it("refuses another person's card, a missing or unapproved login, and a forged response", async () => {
      const holder = employeesOf(region, org)[1]!;
      const other = employeesOf(region, org)[2]!;
      const card = await cardFor(holder);
      await lock(card);
      const challenge = await card.app.unlockChallenge(card.appCardId);
      const othersLogin = await login(await phoneOf(other.personnummer));
      await assert.rejects(unlockCard(context, orders, null, { cardId: card.cardId, orderRef: othersLogin, challenge }), refusedAs('forbidden'));
      await assert.rejects(unlockCard(context, orders, null, { cardId: card.cardId, orderRef: randomUUID(), challenge }), refusedAs('forbidden'));
      const unanswered = await startUnlockLogin(orders, '127.0.0.1');
      await assert.rejects(unlockCard(context, orders, null, { cardId: card.cardId, orderRef: unanswered.orderRef, challenge }), refusedAs('forbidden'));
      // A login with a card certificate (the holder's own) is not a mobile eID login.
      const cardKeys = await openKeyStore(await home());
      const pnrCard = await pki.issueWithNewKey('person-auth-pnr-loa3', { commonName: 'Card Holder', givenName: 'Card', surname: 'Holder', serialNumber: holder.personnummer });
      const cardCredential = await cardKeys.importKey('card', 'Kort', PIN, createPrivateKey(pnrCard.privateKeyPem), pnrCard.certificatePem, pnrCard.chainPem, { cardId: randomUUID(), uses: ['auth'] });
      const byCard = await login({ phone: cardKeys, id: cardCredential, certificatePem: pnrCard.certificatePem });
      await assert.rejects(unlockCard(context, orders, null, { cardId: card.cardId, orderRef: byCard, challenge }), (e) => refusedAs('forbidden')(e) && /not made with a mobile eID/.test((e as Error).message));
      await assert.rejects(card.app.unlockCard(card.appCardId, randomBytes(32).toString('base64')), (e) => e instanceof KeyStoreError && e.code === 'unlockRefused');
      assert.equal(card.app.locked, true, 'a forged response leaves the card locked');
      // The forged attempt used the challenge up: a real response to it no longer counts.
      const orderRef = await login(await phoneOf(holder.personnummer));
      const { response } = await unlockCard(context, orders, null, { cardId: card.cardId, orderRef, challenge });
      await assert.rejects(card.app.unlockCard(card.appCardId, response), (e) => e instanceof KeyStoreError && e.code === 'unlockRefused');
      assert.equal(card.app.locked, true);
    });

    it('an ID administrator of the organisation unlocks after the holder logs in; one of another organisation is refused', async () => {
      const holder = employeesOf(region, org)[3]!;
      const card = await cardFor(holder);
      await lock(card);
      const appoint = async (organisation: string) => {
        const hsaId = employeesOf(region, organisation)[8]!.hsaId;
        await appointRole(db, { operator: 't' }, { holder: hsaId, role: 'id-administrator', organisation, unit: null, trainedOn: now }, now);
        return loadActor(db, hsaId, now, 365);
      };
      const stranger = await appoint(region.organisations[1]!.hsaId);
      const admin = await appoint(org);
      const orderRef = await login(await phoneOf(holder.personnummer));
      const challenge = await card.app.unlockChallenge(card.appCardId);
      await assert.rejects(unlockCard(context, orders, stranger, { cardId: card.cardId, orderRef, challenge }), refusedAs('forbidden'));
      // The unlock page is refused to them too, before the holder is asked to log in; a card that is not active is never unlocked.
      await assert.rejects(unlockableCard(context, stranger, card.cardId), refusedAs('forbidden'));
      await assert.rejects(startCardUnlock(context, orders, stranger, card.cardId, '127.0.0.1'), refusedAs('forbidden'));
      assert.equal((await unlockableCard(context, admin, card.cardId)).id, card.cardId);
      await db.query(`update portal_card set status = 'sent' where id = $1`, [card.cardId]);
      await assert.rejects(unlockableCard(context, admin, card.cardId), refusedAs('conflict'));
      await db.query(`update portal_card set status = 'active' where id = $1`, [card.cardId]);
      const { response } = await unlockCard(context, orders, admin, { cardId: card.cardId, orderRef, challenge });
      await card.app.unlockCard(card.appCardId, response);
      assert.equal(card.app.locked, false);
      const [audit] = await db.query<{ actor: string; role: string }>("select actor, role from portal_audit where action = 'card.unlock' and target = $1", [`card:${card.cardId}`]);
      assert.deepEqual({ ...audit }, { actor: admin.hsaId, role: 'id-administrator' });
    });
  });
}
