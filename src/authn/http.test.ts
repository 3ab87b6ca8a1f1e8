import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { databaseTargets, ephemeralTargets } from '../../test/support/stores.ts';
import type { Database, EphemeralStore } from '../store/index.ts';
import { addCaller, authenticateCaller, CallerError } from './callers.ts';
import { authnRoutes } from './http.ts';
import { createOrderService, type AnswerVerifier } from './orders.ts';
import { qrContent } from './qr.ts';

const user = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const CERT = '-----BEGIN CERTIFICATE-----\nfor-tests\n-----END CERTIFICATE-----';
// Stands in for the PKI's certificate checks: verifies the real signature over the challenge.
const verifyAnswer: AnswerVerifier = async ({ challenge, answer }) =>
  answer.certificatePem === CERT && verify('sha256', challenge, user.publicKey, Buffer.from(answer.signature, 'base64'))
    ? { ok: true, completion: { user: { personalIdentityNumber: '191212121212' }, certificatePem: CERT, signature: answer.signature, loa: 3, revocationEvidence: null } }
    : { ok: false, hint: 'certificateErr', reason: 'signature does not verify' };

for (const target of databaseTargets()) {
  describe(`authentication service over HTTP (${target.name})`, () => {
    let db: Database;
    let store: EphemeralStore;
    let app: FastifyInstance;
    let basic: string;

    before(async () => {
      db = await target.open();
      store = await ephemeralTargets()[0]!.open();
      const { secret } = await addCaller(db, 'idp.region', 'Regionens IdP');
      basic = `Basic ${Buffer.from(`idp.region:${secret}`).toString('base64')}`;
      app = Fastify();
      await app.register(authnRoutes({ db, orders: createOrderService({ store, verifyAnswer, maxOrdersPerMinute: 20 }) }));
    });
    after(async () => {
      await app.close();
      await store.close();
      await db.close();
    });

    const post = (url: string, body: unknown, authorization: string | null = basic) =>
      app.inject({ method: 'POST', url, payload: body as object, headers: authorization ? { authorization } : {} });

    it('runs an order from start through the app to collect', async () => {
      const started = await post('/authn/v1/auth', { endUserIp: '192.0.2.1', userVisibleText: 'Logga in' });
      assert.equal(started.statusCode, 200, started.body);
      const tokens = started.json();
      assert.deepEqual(Object.keys(tokens).sort(), ['autoStartToken', 'orderRef', 'qrStartSecret', 'qrStartToken']);
      const claim = await post('/app/v1/claim', { qr: qrContent(tokens.qrStartToken, tokens.qrStartSecret, 0) }, null);
      assert.equal(claim.statusCode, 200, claim.body);
      const challenge = claim.json();
      assert.equal(challenge.requesterName, 'Regionens IdP');
      assert.equal((await post('/authn/v1/collect', { orderRef: tokens.orderRef })).json().hintCode, 'userSign');
      const signature = sign('sha256', Buffer.from(challenge.toSign, 'base64'), user.privateKey).toString('base64');
      const answer = await post('/app/v1/answer', { orderRef: tokens.orderRef, nonce: challenge.nonce, signature, certificate: CERT }, null);
      assert.deepEqual(answer.json(), { status: 'complete' });
      const collected = (await post('/authn/v1/collect', { orderRef: tokens.orderRef })).json();
      assert.equal(collected.status, 'complete');
      assert.equal(collected.completionData.user.personalIdentityNumber, '191212121212');
    });

    it('refuses callers without the right secret, and never starts an order for them', async () => {
      for (const authorization of [null, 'Basic ' + Buffer.from('idp.region:wrong').toString('base64'), 'Basic ' + Buffer.from('nobody:x').toString('base64'), 'Bearer abc', 'Basic !!!']) {
        const answer = await post('/authn/v1/auth', { endUserIp: '192.0.2.1' }, authorization);
        assert.equal(answer.statusCode, 401, String(authorization));
        assert.equal(answer.json().errorCode, 'unauthorized');
        assert.equal(answer.headers['www-authenticate'], 'Basic realm="tillit-authn"');
      }
    });

    it('names the parameter that is wrong', async () => {
      const cases: [string, unknown, RegExp][] = [
        ['/authn/v1/auth', { endUserIp: 'x' }, /endUserIp/],
        ['/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { minimumLoa: 4 } }, /requirement\.minimumLoa/],
        ['/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { personalIdentityNumber: '1912' } }, /requirement\.personalIdentityNumber: twelve digits/],
        ['/authn/v1/auth', { endUserIp: '192.0.2.1', extra: true }, /extra: not a known parameter/],
        ['/authn/v1/sign', { endUserIp: '192.0.2.1' }, /userVisibleText/],
        ['/authn/v1/collect', {}, /orderRef/],
        ['/app/v1/claim', { qr: 'nonsense' }, /not a Tillit QR code/],
        ['/app/v1/answer', { orderRef: 'x' }, /nonce/],
      ];
      for (const [url, body, message] of cases) {
        const answer = await post(url, body);
        assert.equal(answer.statusCode, 400, `${url} ${JSON.stringify(body)}: ${answer.body}`);
        assert.equal(answer.json().errorCode, 'invalidParameters');
        assert.match(answer.json().details, message);
      }
    });

    it('answers unknown orders with notFound and floods with tooManyRequests', async () => {
      const unknown = await post('/authn/v1/collect', { orderRef: '00000000-0000-4000-8000-000000000000' });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json().errorCode, 'notFound');
      const answers = [];
      for (let i = 0; i < 25; i++) answers.push((await post('/authn/v1/auth', { endUserIp: '192.0.2.1' })).statusCode);
      assert.ok(answers.includes(429), `no 429 in ${answers.join(',')}`);
      assert.equal(answers.filter((s) => s === 200).length <= 20, true);
    });

    it('keeps caller secrets only as hashes and refuses duplicates and bad ids', async () => {
      const [row] = await db.query<{ secret_hash: Uint8Array }>('select secret_hash from authn_callers where id = $1', ['idp.region']);
      assert.equal(row!.secret_hash.length, 32);
      await assert.rejects(addCaller(db, 'idp.region', 'Again'), CallerError);
      await assert.rejects(addCaller(db, 'Bad Id!', 'x'), /must be 3–64 lower-case/);
      assert.equal(await authenticateCaller(db, "idp.region' or '1'='1", 'x'), undefined);
    });

    it('stops accepting a caller the moment it is disabled, though its secret was accepted before', async () => {
      const { secret } = await addCaller(db, 'idp.leaving', 'Leaving');
      assert.equal((await authenticateCaller(db, 'idp.leaving', secret))?.id, 'idp.leaving');
      assert.equal((await authenticateCaller(db, 'idp.leaving', secret))?.id, 'idp.leaving', 'the second time from the proven-secret cache');
      assert.equal(await authenticateCaller(db, 'idp.leaving', `${secret}x`), undefined);
      await db.query('update authn_callers set disabled_at = now() where id = $1', ['idp.leaving']);
      assert.equal(await authenticateCaller(db, 'idp.leaving', secret), undefined);
    });
  });
}
