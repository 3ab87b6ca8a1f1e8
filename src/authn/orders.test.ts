import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { ephemeralTargets } from '../../test/support/stores.ts';
import { createOrderService, OrderError, type AnswerVerifier, type Challenge } from './orders.ts';
import { qrContent } from './qr.ts';

/**
 * Until the PKI part provides certificate checks, the verifier here checks only
 * the one thing the order lifecycle relies on: a real ECDSA signature over the
 * challenge bytes by the key the "certificate" names.
 */
function keyVerifier(keys: Map<string, KeyObject>): AnswerVerifier {
  return async ({ challenge, answer }) => {
    const key = keys.get(answer.certificatePem);
    if (!key) return { ok: false, hint: 'certificateErr', reason: 'unknown certificate' };
    if (!verify('sha256', challenge, key, Buffer.from(answer.signature, 'base64'))) return { ok: false, hint: 'certificateErr', reason: 'signature does not verify' };
    return { ok: true, completion: { user: { personalIdentityNumber: '191212121212' }, certificatePem: answer.certificatePem, signature: answer.signature, loa: 3, revocationEvidence: null } };
  };
}

const requester = { clientId: 'idp-1', displayName: 'Journalen' };
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const CERT = 'cert-of-the-user';
const signChallenge = (challenge: Challenge, key = privateKey) => sign('sha256', Buffer.from(challenge.toSign, 'base64'), key).toString('base64');

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof OrderError, String(error));
    return error.code;
  }
  return 'no error';
}

for (const target of ephemeralTargets()) {
  describe(`authentication orders on ${target.name}`, () => {
    const setUp = async (now = () => Date.now(), extra: { maxOrdersPerMinute?: number; orderTtlMs?: number; noClientAfterMs?: number } = {}) => {
      const store = await target.open();
      return { store, orders: createOrderService({ store, verifyAnswer: keyVerifier(new Map([[CERT, publicKey]])), now, ...extra }) };
    };

    it('completes an auth order started on this device', async () => {
      const { store, orders } = await setUp();
      try {
        const tokens = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10', userVisibleText: 'Logga in i Journalen' });
        assert.deepEqual(await orders.collect(tokens.orderRef, requester.clientId), { orderRef: tokens.orderRef, status: 'pending', hintCode: 'outstandingTransaction' });
        const challenge = await orders.claimByAutoStartToken(tokens.autoStartToken);
        assert.equal(challenge.requesterName, 'Journalen');
        assert.equal(challenge.userVisibleText, 'Logga in i Journalen');
        assert.deepEqual(await orders.collect(tokens.orderRef, requester.clientId), { orderRef: tokens.orderRef, status: 'pending', hintCode: 'userSign' });
        const signature = signChallenge(challenge);
        const result = await orders.answer(tokens.orderRef, challenge.nonce, { signature, certificatePem: CERT });
        assert.equal(result.status, 'complete');
        const collected = await orders.collect(tokens.orderRef, requester.clientId);
        assert.equal(collected.status, 'complete');
        assert.equal(collected.status === 'complete' && collected.completionData.user.personalIdentityNumber, '191212121212');
      } finally {
        await store.close();
      }
    });

    it('completes a sign order started from a fresh QR code, and refuses a stale or forged one', async () => {
      let clock = 1_000_000;
      const { store, orders } = await setUp(() => clock);
      try {
        const tokens = await orders.start({ kind: 'sign', requester, endUserIp: '2001:db8::1', userVisibleText: 'Intyg om sjukskrivning' });
        clock += 10_000;
        assert.equal(await codeOf(orders.claimByQr(qrContent(tokens.qrStartToken, tokens.qrStartSecret, 5))), 'staleQr');
        assert.equal(await codeOf(orders.claimByQr(qrContent(tokens.qrStartToken, 'guessed-secret', 10))), 'forgedQr');
        assert.equal(await codeOf(orders.claimByQr('bankid.garbage')), 'invalidParameters');
        const challenge = await orders.claimByQr(qrContent(tokens.qrStartToken, tokens.qrStartSecret, 9));
        assert.equal(challenge.kind, 'sign');
        const done = await orders.answer(tokens.orderRef, challenge.nonce, { signature: signChallenge(challenge), certificatePem: CERT });
        assert.equal(done.status, 'complete');
      } finally {
        await store.close();
      }
    });

    it('lets only one app claim an order', async () => {
      const { store, orders } = await setUp();
      try {
        const tokens = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const content = qrContent(tokens.qrStartToken, tokens.qrStartSecret, 0);
        const results = await Promise.allSettled([orders.claimByQr(content), orders.claimByQr(content), orders.claimByAutoStartToken(tokens.autoStartToken)]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      } finally {
        await store.close();
      }
    });

    it('fails the order when the signature is by another key, and accepts no second answer', async () => {
      const { store, orders } = await setUp();
      try {
        const tokens = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const challenge = await orders.claimByAutoStartToken(tokens.autoStartToken);
        const forged = await orders.answer(tokens.orderRef, challenge.nonce, { signature: signChallenge(challenge, other.privateKey), certificatePem: CERT });
        assert.deepEqual(forged, { orderRef: tokens.orderRef, status: 'failed', hintCode: 'certificateErr', reason: 'signature does not verify' });
        assert.equal(await codeOf(orders.answer(tokens.orderRef, challenge.nonce, { signature: signChallenge(challenge), certificatePem: CERT })), 'notFound');
        assert.equal((await orders.collect(tokens.orderRef, requester.clientId)).status, 'failed');
      } finally {
        await store.close();
      }
    });

    it('refuses an answer replayed on another order or sent with the wrong nonce', async () => {
      const { store, orders } = await setUp();
      try {
        const first = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const second = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const firstChallenge = await orders.claimByAutoStartToken(first.autoStartToken);
        const secondChallenge = await orders.claimByAutoStartToken(second.autoStartToken);
        const firstSignature = signChallenge(firstChallenge);
        assert.equal(await codeOf(orders.answer(second.orderRef, firstChallenge.nonce, { signature: firstSignature, certificatePem: CERT })), 'notFound');
        const moved = await orders.answer(second.orderRef, secondChallenge.nonce, { signature: firstSignature, certificatePem: CERT });
        assert.equal(moved.status, 'failed');
        assert.equal((await orders.answer(first.orderRef, firstChallenge.nonce, { signature: firstSignature, certificatePem: CERT })).status, 'complete');
      } finally {
        await store.close();
      }
    });

    it('reports a decline, a cancel and an expiry with their hint codes', async () => {
      let clock = 5_000_000;
      const { store, orders } = await setUp(() => clock);
      try {
        const declined = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const challenge = await orders.claimByAutoStartToken(declined.autoStartToken);
        await orders.decline(declined.orderRef, challenge.nonce);
        assert.deepEqual(await orders.collect(declined.orderRef, requester.clientId), { orderRef: declined.orderRef, status: 'failed', hintCode: 'userCancel' });

        const cancelled = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const claimed = await orders.claimByAutoStartToken(cancelled.autoStartToken);
        await orders.cancel(cancelled.orderRef, requester.clientId);
        assert.deepEqual(await orders.collect(cancelled.orderRef, requester.clientId), { orderRef: cancelled.orderRef, status: 'failed', hintCode: 'cancelled' });
        assert.equal(await codeOf(orders.answer(cancelled.orderRef, claimed.nonce, { signature: signChallenge(claimed), certificatePem: CERT })), 'notFound');
        assert.equal(await codeOf(orders.cancel(cancelled.orderRef, requester.clientId)), 'notFound');

        // Never taken by an app: the app did not start in time (startFailed); taken but not answered: expiredTransaction.
        const neverStarted = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const unanswered = await orders.start({ kind: 'sign', requester, endUserIp: '192.0.2.10', userVisibleText: 'Intyg' });
        const unansweredChallenge = await orders.claimByAutoStartToken(unanswered.autoStartToken);
        clock += 179_999;
        assert.equal((await orders.collect(neverStarted.orderRef, requester.clientId)).status, 'pending');
        clock += 1;
        assert.deepEqual(await orders.collect(neverStarted.orderRef, requester.clientId), { orderRef: neverStarted.orderRef, status: 'failed', hintCode: 'startFailed' });
        assert.deepEqual(await orders.collect(unanswered.orderRef, requester.clientId), { orderRef: unanswered.orderRef, status: 'failed', hintCode: 'expiredTransaction' });
        assert.equal(await codeOf(orders.claimByAutoStartToken(neverStarted.autoStartToken)), 'notFound');
        assert.equal(await codeOf(orders.answer(unanswered.orderRef, unansweredChallenge.nonce, { signature: signChallenge(unansweredChallenge), certificatePem: CERT })), 'notFound');
      } finally {
        await store.close();
      }
    });

    it('tells the caller what a pending order waits for: outstandingTransaction, noClient, started, userSign', async () => {
      let clock = 9_000_000;
      const { store, orders } = await setUp(() => clock, { orderTtlMs: 60_000, noClientAfterMs: 20_000 });
      const hint = async (orderRef: string) => {
        const result = await orders.collect(orderRef, requester.clientId);
        return result.status === 'pending' ? result.hintCode : `${result.status}:${result.status === 'failed' ? result.hintCode : ''}`;
      };
      try {
        const qr = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        const same = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        assert.equal(await hint(qr.orderRef), 'outstandingTransaction');
        clock += 20_000;
        assert.equal(await hint(qr.orderRef), 'noClient');
        // The app started but has no eID to answer with: it says so, and the order stays claimable.
        await orders.noteStarted({ qr: qrContent(qr.qrStartToken, qr.qrStartSecret, 20) });
        await orders.noteStarted({ autoStartToken: same.autoStartToken });
        assert.equal(await hint(qr.orderRef), 'started');
        assert.equal(await hint(same.orderRef), 'started');
        assert.equal(await codeOf(orders.noteStarted({ qr: qrContent(qr.qrStartToken, qr.qrStartSecret, 5) })), 'staleQr');
        assert.equal(await codeOf(orders.noteStarted({ qr: qrContent(qr.qrStartToken, 'forged', 20) })), 'forgedQr');
        assert.equal(await codeOf(orders.noteStarted({ autoStartToken: 'no-such-token' })), 'notFound');
        const challenge = await orders.claimByAutoStartToken(same.autoStartToken);
        assert.equal(await hint(same.orderRef), 'userSign');
        assert.equal((await orders.answer(same.orderRef, challenge.nonce, { signature: signChallenge(challenge), certificatePem: CERT })).status, 'complete');
        // The order lives as long as configured (60 s here, not the default 3 minutes).
        clock += 40_000;
        assert.equal(await hint(qr.orderRef), 'failed:startFailed');
        assert.equal(await hint(same.orderRef), 'complete:');
      } finally {
        await store.close();
      }
    });

    it('hides another caller’s orders and unknown refs alike', async () => {
      const { store, orders } = await setUp();
      try {
        const tokens = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        assert.equal(await codeOf(orders.collect(tokens.orderRef, 'another-idp')), 'notFound');
        assert.equal(await codeOf(orders.cancel(tokens.orderRef, 'another-idp')), 'notFound');
        assert.equal(await codeOf(orders.collect('00000000-0000-0000-0000-000000000000', requester.clientId)), 'notFound');
        assert.equal(await codeOf(orders.collect('../../etc/passwd', requester.clientId)), 'notFound');
        assert.equal((await orders.collect(tokens.orderRef, requester.clientId)).status, 'pending');
      } finally {
        await store.close();
      }
    });

    it('refuses bad start requests with the parameter named', async () => {
      const { store, orders } = await setUp();
      try {
        const refusal = async (request: Parameters<typeof orders.start>[0]) => {
          try {
            await orders.start(request);
          } catch (error) {
            assert.ok(error instanceof OrderError);
            assert.equal(error.code, 'invalidParameters');
            return error.message;
          }
          return 'accepted';
        };
        assert.match(await refusal({ kind: 'auth', requester, endUserIp: 'not-an-ip' }), /endUserIp/);
        assert.match(await refusal({ kind: 'sign', requester, endUserIp: '192.0.2.1' }), /userVisibleText is required/);
        assert.match(await refusal({ kind: 'auth', requester, endUserIp: '192.0.2.1', userVisibleText: 'x'.repeat(40_001) }), /at most 40000/);
        assert.match(await refusal({ kind: 'auth', requester, endUserIp: '192.0.2.1', requirements: { minimumLoa: 4 as 3 } }), /minimumLoa/);
        assert.match(await refusal({ kind: 'login' as 'auth', requester, endUserIp: '192.0.2.1' }), /kind/);
      } finally {
        await store.close();
      }
    });

    it('limits the orders one caller may start per minute, not other callers', async () => {
      const { store, orders } = await setUp(() => 60_000 * 1000 + 5, { maxOrdersPerMinute: 3 });
      try {
        for (let i = 0; i < 3; i++) await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
        assert.equal(await codeOf(orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' })), 'tooManyRequests');
        await orders.start({ kind: 'auth', requester: { clientId: 'idp-2', displayName: 'Other' }, endUserIp: '192.0.2.10' });
      } finally {
        await store.close();
      }
    });

    it('runs 1,000 concurrent orders to completion without mixing them up', async () => {
      const { store, orders } = await setUp(Date.now, { maxOrdersPerMinute: 1000 });
      try {
        const results = await Promise.all(
          Array.from({ length: 1000 }, async () => {
            const tokens = await orders.start({ kind: 'auth', requester, endUserIp: '192.0.2.10' });
            const challenge = await orders.claimByAutoStartToken(tokens.autoStartToken);
            await orders.answer(tokens.orderRef, challenge.nonce, { signature: signChallenge(challenge), certificatePem: CERT });
            return orders.collect(tokens.orderRef, requester.clientId);
          }),
        );
        assert.equal(results.filter((r) => r.status === 'complete').length, 1000);
        assert.equal(new Set(results.map((r) => r.orderRef)).size, 1000);
      } finally {
        await store.close();
      }
    });
  });
}
