import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ephemeralTargets } from '../../test/support/stores.ts';
import { createCardLoginService } from './card-login.ts';

const BASE = 'https://idp.example';
const REQUESTER = { clientId: 'oidc:journal', displayName: 'Journalen' };
const REFUSED = { ok: false, code: 'noCertificate', reason: 'the browser sent no certificate', certificate: null } as const;

for (const target of ephemeralTargets()) {
  describe(`card login requests and one-time handles (${target.name})`, () => {
    async function service(now = () => Date.now()) {
      const store = await target.open();
      const cards = createCardLoginService({ store, publicBaseUrl: BASE, attemptUrl: (n, id) => `https://mtls-${n}.idp.example:8444/authn/card/login?request=${id}`, maxAttempts: 25, checksPerRequest: 30, requestTtlMs: 60_000, now });
      return { cards, close: () => store.close() };
    }

    it('rolls to host n+1 for a browser that made n attempts, up to the last; then restart', async () => {
      const { cards, close } = await service();
      const { requestId, startPath } = await cards.begin({ requester: REQUESTER, returnTo: `${BASE}/oidc/interaction/u1/card` });
      assert.equal(startPath, `/authn/card/start?request=${requestId}`);
      assert.deepEqual(await cards.nextAttempt(requestId, 0), { kind: 'go', attempt: 1, url: `https://mtls-1.idp.example:8444/authn/card/login?request=${requestId}` });
      assert.equal(((await cards.nextAttempt(requestId, 24)) as { attempt: number }).attempt, 25);
      assert.deepEqual(await cards.nextAttempt(requestId, 25), { kind: 'restartBrowser' });
      assert.equal(((await cards.nextAttempt(requestId, -3)) as { attempt: number }).attempt, 1, 'a tampered counter starts over, never skips the check');
      assert.deepEqual(await cards.nextAttempt('not-a-request', 0), { kind: 'expired' });
      await close();
    });

    it('keeps an outcome for one redemption by its own request, and sends the browser back only to this installation', async () => {
      const { cards, close } = await service();
      const mine = await cards.begin({ requester: REQUESTER, returnTo: `${BASE}/oidc/interaction/u1/card` });
      const other = await cards.begin({ requester: REQUESTER, returnTo: `${BASE}/oidc/interaction/u2/card` });
      const back = new URL(await cards.settle((await cards.request(mine.requestId))!, REFUSED));
      assert.equal(`${back.origin}${back.pathname}`, `${BASE}/oidc/interaction/u1/card`);
      const handle = back.searchParams.get('card')!;
      assert.deepEqual(await cards.redeem(handle, mine.requestId), REFUSED);
      assert.equal(await cards.redeem(handle, mine.requestId), undefined, 'once');
      const second = new URL(await cards.settle((await cards.request(mine.requestId))!, REFUSED)).searchParams.get('card')!;
      assert.equal(await cards.redeem(second, other.requestId), undefined, 'not by another request');
      assert.equal(await cards.redeem(second, mine.requestId), undefined, 'and spent by the attempt');
      await assert.rejects(cards.begin({ requester: REQUESTER, returnTo: 'https://idp.example.evil.test/cb' }), /returns to https:\/\/idp\.example only/);
      await assert.rejects(cards.begin({ requester: REQUESTER, returnTo: 'javascript:alert(1)' }), /returns to/);
      await cards.end(mine.requestId);
      assert.equal(await cards.request(mine.requestId), undefined, 'an ended request takes no more attempts');
      await close();
    });

    it('lets one request be checked at most checksPerRequest times', async () => {
      const { cards, close } = await service();
      const { requestId } = await cards.begin({ requester: REQUESTER, returnTo: `${BASE}/x` });
      const request = (await cards.request(requestId))!;
      for (let i = 0; i < 30; i++) assert.equal(await cards.admit(request), true);
      assert.equal(await cards.admit(request), false);
      await close();
    });

    it('expires a request after its time', async () => {
      let now = Date.now();
      const { cards, close } = await service(() => now);
      const { requestId } = await cards.begin({ requester: REQUESTER, returnTo: `${BASE}/x` });
      now += 61_000;
      assert.deepEqual(await cards.nextAttempt(requestId, 0), { kind: 'expired' });
      await close();
    });
  });
}
