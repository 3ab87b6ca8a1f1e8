import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ephemeralTargets } from '../../../test/support/stores.ts';
import { accountIdOf, createSessionStore, readCookie, sessionCookie, SSO_COOKIE, type LoginRecord } from './index.ts';

const login: LoginRecord = { subject: { personalIdentityNumber: '191212121212', givenName: 'Tolvan' }, method: 'oob-other', loa: 3, authTime: 1_800_000_000, certificatePem: 'pem' };

for (const target of ephemeralTargets()) {
  describe(`SSO session (${target.name})`, () => {
    it('keeps who logged in and how, lists the services that took part, and ends once', async () => {
      const store = await target.open();
      try {
        let clock = 1_800_000_000_000;
        const sessions = createSessionStore(store, { ttlMs: 3_600_000, now: () => clock });
        const session = await sessions.create(login);
        assert.equal((await sessions.get(session.id))!.subject.personalIdentityNumber, '191212121212');
        await Promise.all([sessions.addParticipant(session.id, { protocol: 'oidc', clientId: 'a' }), sessions.addParticipant(session.id, { protocol: 'saml', clientId: 'b' })]);
        assert.deepEqual((await sessions.participants(session.id)).map((p) => p.clientId).sort(), ['a', 'b']);
        clock += 3_600_000;
        assert.equal(await sessions.get(session.id), null, 'expired by the clock even before the store drops it');
        clock -= 1;
        assert.equal((await sessions.end(session.id)).length, 2);
        assert.equal(await sessions.get(session.id), null);
        const other = await sessions.create(login);
        await sessions.end(other.id);
        await sessions.addParticipant(other.id, { protocol: 'saml', clientId: 'late' });
        assert.deepEqual(await sessions.participants(other.id), [], 'a login finishing after the session ended is not recorded');
        for (const bad of [undefined, '', 'x', '../../etc', 'a'.repeat(200)]) assert.equal(await sessions.get(bad), null);
      } finally {
        await store.close();
      }
    });
  });
}

describe('SSO session helpers', () => {
  it('names the account by personnummer, else HSA-id, and reads its cookie', () => {
    assert.equal(accountIdOf(login), '191212121212');
    assert.equal(accountIdOf({ subject: { hsaId: 'SE2321000016-1A2B' } }), 'SE2321000016-1A2B');
    assert.throws(() => accountIdOf({ subject: {} }), /neither/);
    assert.equal(readCookie(`a=1; ${SSO_COOKIE}=abc; b=2`, SSO_COOKIE), 'abc');
    assert.match(sessionCookie(null, 60), /Max-Age=0/);
  });
});
