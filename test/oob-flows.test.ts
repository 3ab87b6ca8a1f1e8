import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppRequestError, approveOrder, enrollMobileEid, KeyStoreError, openKeyStore, postJson, type KeyStore, type ShownChallenge } from '../src/app/index.ts';
import { addCaller, authnFrom, createAuthnPart, qrContent, type AuthnServices } from '../src/authn/index.ts';
import { createDirectoryPart, listOrganisationPersons, PUBLIC_VIEWER, type PersonSummary } from '../src/directory/index.ts';
import { createPkiPart, pkiFrom, type Pki } from '../src/pki/index.ts';
import { call } from './support/http.ts';
import { openssl, scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';
import { systemStoreTargets } from './support/system-stores.ts';

for (const target of systemStoreTargets()) {
  describe(`out-of-band orders with the eID app, every hostile case (${target.name})`, () => {
    let system: Awaited<ReturnType<typeof startTestSystem>>;
    let cleanup: () => Promise<void>;
    let pki: Pki;
    let authn: AuthnServices;
    let authorization: string;
    let root: string;
    let persons: PersonSummary[];
    const apps: KeyStore[] = [];
    const serials: string[] = [];
    const files = scratch();
    const PIN = '314159';

    before(async () => {
      const stores = await target.stores();
      cleanup = stores.cleanup;
      system = await startTestSystem({ ...stores.overrides, demo: { seed: true }, directory: { demo: { persons: 30 } }, authn: { oob: { maxOrdersPerMinute: 100_000 } } }, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
      const started = new Map(system.parts.map((p) => [p.name, p]));
      pki = pkiFrom(started);
      authn = authnFrom(started);
      const { secret } = await addCaller(system.db, 'idp.flows', 'Flödestestet');
      authorization = `Basic ${Buffer.from(`idp.flows:${secret}`).toString('base64')}`;
      root = await mkdtemp(join(tmpdir(), 'tillit-oob-flows-'));
      persons = await listOrganisationPersons(system.db, 'SE2321000008-0001', PUBLIC_VIEWER, 4);
      // Each person enrols a mobile eID the real way: a code, a key made by the app, the mobile CA.
      for (const [index, person] of persons.entries()) {
        const keys = await openKeyStore(join(root, `app-${index}`));
        const { code } = await authn.enrolment.createCode(person.personnummer, 'test operator');
        await enrollMobileEid(keys, PIN, (csr) => authn.enrolment.redeem(code, csr));
        apps.push(keys);
        serials.push((await authn.enrolment.mobileEidsOf(person.personnummer))[0]!.serial);
      }
    });
    after(async () => {
      files.done();
      await system?.stop();
      await cleanup?.();
      await rm(root, { recursive: true, force: true });
    });

    const rp = async (path: string, body: unknown) => {
      const answer = await call(`${system.httpsUrl}${path}`, { method: 'POST', ca: system.tls.ca, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: answer.status, json: JSON.parse(answer.body) };
    };
    const collect = async (orderRef: string) => (await rp('/authn/v1/collect', { orderRef })).json;
    const server = () => ({ baseUrl: system.httpsUrl, ca: system.tls.ca });
    const app = (path: string, body: unknown) => postJson(server(), path, body);
    const refusal = async (promise: Promise<unknown>) => {
      try {
        await promise;
      } catch (error) {
        assert.ok(error instanceof AppRequestError, String(error));
        return `${error.status} ${error.errorCode}`;
      }
      return 'accepted';
    };

    it('logs in by QR and signs on the same device, with the person, LoA and the signature by the enrolled key', async () => {
      const auth = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { personalIdentityNumber: persons[0]!.personnummer, minimumLoa: 3 } })).json;
      await approveOrder(server(), apps[0]!, { qr: qrContent(auth.qrStartToken, auth.qrStartSecret, 0) }, { pin: PIN });
      const done = await collect(auth.orderRef);
      assert.equal(done.status, 'complete', JSON.stringify(done));
      assert.deepEqual([done.completionData.user.personalIdentityNumber, done.completionData.loa, done.completionData.revocationEvidence.status], [persons[0]!.personnummer, 3, 'good']);

      const sign = (await rp('/authn/v1/sign', { endUserIp: '192.0.2.1', userVisibleText: 'Intyg om sjukpenning' })).json;
      const { challenge } = await approveOrder(server(), apps[1]!, { autoStartToken: sign.autoStartToken }, { pin: PIN });
      assert.deepEqual([challenge.kind, challenge.userVisibleText, challenge.requesterName], ['sign', 'Intyg om sjukpenning', 'Flödestestet']);
      const signed = await collect(sign.orderRef);
      assert.equal(signed.completionData.user.personalIdentityNumber, persons[1]!.personnummer);
    });

    it('cancels, declines, and answers an unknown orderRef with notFound', async () => {
      const cancelled = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      assert.equal((await rp('/authn/v1/cancel', { orderRef: cancelled.orderRef })).status, 200);
      assert.equal(await refusal(approveOrder(server(), apps[0]!, { autoStartToken: cancelled.autoStartToken }, { pin: PIN })), '404 notFound');
      assert.equal((await collect(cancelled.orderRef)).hintCode, 'cancelled');
      const declined = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      await approveOrder(server(), apps[0]!, { autoStartToken: declined.autoStartToken }, { pin: PIN, decline: true });
      assert.equal((await collect(declined.orderRef)).hintCode, 'userCancel');
      const unknown = await rp('/authn/v1/collect', { orderRef: '0b5e3f52-8d7e-4d0e-a8a1-1f7a3c7f9b11' });
      assert.deepEqual([unknown.status, unknown.json.errorCode], [404, 'notFound']);
    });

    it('refuses stale and forged QR codes', async () => {
      const order = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      assert.equal(await refusal(app('app/v1/claim', { qr: qrContent(order.qrStartToken, order.qrStartSecret, 30) })), '400 staleQr');
      assert.equal(await refusal(app('app/v1/claim', { qr: qrContent(order.qrStartToken, 'not-the-secret', 0) })), '400 forgedQr');
      assert.equal(await refusal(app('app/v1/claim', { qr: 'tillit.x.y.z' })), '400 invalidParameters');
      assert.equal((await collect(order.orderRef)).status, 'pending', 'the order is still there for the real code');
      await approveOrder(server(), apps[0]!, { qr: qrContent(order.qrStartToken, order.qrStartSecret, 0) }, { pin: PIN });
      assert.equal((await collect(order.orderRef)).status, 'complete');
    });

    it('refuses a replayed answer, answers swapped between two orders, and a signature by another key', async () => {
      const claimAndSign = async (keys: KeyStore, autoStartToken: string) => {
        const challenge = (await app('app/v1/claim', { autoStartToken })) as ShownChallenge;
        const credential = keys.list()[0]!;
        const signature = (await keys.sign(credential.id, PIN, Buffer.from(challenge.toSign, 'base64'))).toString('base64');
        return { challenge, body: { orderRef: challenge.orderRef, nonce: challenge.nonce, signature, certificate: credential.certificatePem } };
      };
      // Replay: the same answer twice, then on a new order.
      const first = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      const answered = await claimAndSign(apps[0]!, first.autoStartToken);
      assert.deepEqual(await app('app/v1/answer', answered.body), { status: 'complete' });
      assert.equal(await refusal(app('app/v1/answer', answered.body)), '404 notFound');
      const next = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      const nextClaim = await claimAndSign(apps[0]!, next.autoStartToken);
      assert.equal(await refusal(app('app/v1/answer', { ...answered.body, orderRef: next.orderRef })), '404 notFound', 'an old nonce does not fit');
      const replayed = await app('app/v1/answer', { ...answered.body, orderRef: next.orderRef, nonce: nextClaim.challenge.nonce });
      assert.equal((replayed as { hintCode: string }).hintCode, 'certificateErr', 'an old signature does not sign the new challenge');
      assert.equal((await collect(next.orderRef)).status, 'failed');

      // Reordered: two orders claimed at once, each answer sent to the other order.
      const a = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      const b = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      const claimA = await claimAndSign(apps[0]!, a.autoStartToken);
      const claimB = await claimAndSign(apps[1]!, b.autoStartToken);
      await app('app/v1/answer', { ...claimB.body, orderRef: a.orderRef, nonce: claimA.challenge.nonce });
      await app('app/v1/answer', { ...claimA.body, orderRef: b.orderRef, nonce: claimB.challenge.nonce });
      assert.deepEqual([(await collect(a.orderRef)).hintCode, (await collect(b.orderRef)).hintCode], ['certificateErr', 'certificateErr']);

      // Another key: person 0's certificate, signed by person 1's key.
      const c = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      const claimC = await claimAndSign(apps[1]!, c.autoStartToken);
      await app('app/v1/answer', { ...claimC.body, certificate: apps[0]!.list()[0]!.certificatePem });
      const failed = await collect(c.orderRef);
      assert.deepEqual([failed.status, failed.hintCode, failed.reason], ['failed', 'certificateErr', 'the signature was not made by the key of the certificate presented']);
    });

    it('refuses an eID from a foreign CA with the same names and policy', async () => {
      const person = persons[2]!;
      const mobileCa = pki.caCertificate('mobile')!.certificate;
      const policy = `${pki.policyArc}.1.4`;
      const sameName = ['C', 'O', 'CN'].flatMap((f) => mobileCa.subjectName.getField(f).map((v) => `/${f}=${v}`)).join('');
      files.file('foreign.ext', `keyUsage=critical,digitalSignature,nonRepudiation\nextendedKeyUsage=clientAuth\ncertificatePolicies=${policy}\nbasicConstraints=critical,CA:FALSE\n`);
      const run = (args: string[]) => {
        const result = openssl(args);
        assert.ok(result.ok, result.output);
      };
      run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.path('foreign-ca.key'), '-out', files.path('foreign-ca.pem'), '-subj', sameName, '-days', '30']);
      run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.path('foreign.key'), '-out', files.path('foreign.csr'), '-subj', `/CN=${person.givenName} ${person.surname}/GN=${person.givenName}/SN=${person.surname}/serialNumber=${person.personnummer}`]);
      run(['x509', '-req', '-in', files.path('foreign.csr'), '-CA', files.path('foreign-ca.pem'), '-CAkey', files.path('foreign-ca.key'), '-CAcreateserial', '-days', '30', '-extfile', files.path('foreign.ext'), '-out', files.path('foreign.pem')]);
      const keys = await openKeyStore(join(root, 'foreign'));
      await keys.importKey('mobile', 'Falskt eID', PIN, createPrivateKey(files.read('foreign.key')), files.read('foreign.pem').toString(), [files.read('foreign-ca.pem').toString()]);
      const order = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      await approveOrder(server(), keys, { autoStartToken: order.autoStartToken }, { pin: PIN });
      const failed = await collect(order.orderRef);
      assert.deepEqual([failed.status, failed.hintCode], ['failed', 'certificateErr']);
      assert.equal(failed.reason, 'the certificate is not issued by a CA we trust');
    });

    it('keeps the order open on a wrong PIN, and a locked app answers nothing', async () => {
      const keys = await openKeyStore(join(root, 'locking'));
      const { code } = await authn.enrolment.createCode(persons[3]!.personnummer, 'test operator');
      await enrollMobileEid(keys, '777777', (csr) => authn.enrolment.redeem(code, csr));
      const order = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      for (const [pin, left] of [['000001', 2], ['000002', 1]] as const) {
        await assert.rejects(approveOrder(server(), keys, { autoStartToken: order.autoStartToken }, { pin }), (e: KeyStoreError) => e.code === 'wrongPin' && e.attemptsLeft === left);
      }
      await assert.rejects(approveOrder(server(), keys, { autoStartToken: order.autoStartToken }, { pin: '000003' }), (e: KeyStoreError) => e.code === 'locked');
      await assert.rejects(approveOrder(server(), keys, { autoStartToken: order.autoStartToken }, { pin: '777777' }), (e: KeyStoreError) => e.code === 'locked');
      assert.equal((await collect(order.orderRef)).status, 'pending', 'nothing reached the server');
    });

    it('refuses an eID once it is revoked (revoke, then try)', async () => {
      const before = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      await approveOrder(server(), apps[3]!, { autoStartToken: before.autoStartToken }, { pin: PIN });
      assert.equal((await collect(before.orderRef)).status, 'complete');
      await pki.revoke({ serial: serials[3]!, reason: 'keyCompromise', actor: 'test' });
      const after = (await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' })).json;
      await approveOrder(server(), apps[3]!, { autoStartToken: after.autoStartToken }, { pin: PIN });
      assert.deepEqual(await collect(after.orderRef), { orderRef: after.orderRef, status: 'failed', hintCode: 'certificateErr', reason: 'the certificate is revoked (keyCompromise)' });
    });

    it('runs 1,000 concurrent orders through the real checks: each completes with its own person, and the wrong person fails', async () => {
      const people = persons.slice(0, 3);
      const requester = { clientId: 'idp.flows', displayName: 'Flödestestet' };
      // All 1,000 are started and claimed at once, so they are all in flight together.
      const claimed = await Promise.all(
        Array.from({ length: 1000 }, async (_, i) => {
          const wanted = i % 3;
          // Every tenth order is answered by someone else than the caller requires: it must fail, never complete.
          const answering = i % 10 === 0 ? (wanted + 1) % 3 : wanted;
          const tokens = await authn.orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.1', requirements: { personalIdentityNumber: people[wanted]!.personnummer } });
          return { i, wanted, answering, tokens, challenge: await authn.orders.claimByAutoStartToken(tokens.autoStartToken) };
        }),
      );
      // Answers go 50 at a time: each one's checks query the database, and a thousand at once on a busy
      // machine would wait longer for a pooled connection than the store allows (5 s), which is not what is tested here.
      const results: { i: number; wanted: number; answering: number; result: Awaited<ReturnType<typeof authn.orders.collect>> }[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          for (let k = next++; k < claimed.length; k = next++) {
            const { i, wanted, answering, tokens, challenge } = claimed[k]!;
            const keys = apps[answering]!;
            const credential = keys.list()[0]!;
            const signature = (await keys.sign(credential.id, PIN, Buffer.from(challenge.toSign, 'base64'))).toString('base64');
            await authn.orders.answer(tokens.orderRef, challenge.nonce, { signature, certificatePem: credential.certificatePem! });
            results.push({ i, wanted, answering, result: await authn.orders.collect(tokens.orderRef, requester.clientId) });
          }
        }),
      );
      for (const { i, wanted, answering, result } of results) {
        if (wanted === answering) {
          assert.equal(result.status, 'complete', `order ${i}: ${JSON.stringify(result)}`);
          assert.equal(result.status === 'complete' && result.completionData.user.personalIdentityNumber, people[wanted]!.personnummer);
        } else {
          assert.deepEqual(result.status === 'failed' && result.hintCode, 'certificateErr', `order ${i}`);
        }
      }
      assert.equal(results.filter((r) => r.result.status === 'complete').length, 900);
      assert.equal(new Set(results.map((r) => r.result.orderRef)).size, 1000);
    });
  });
}
