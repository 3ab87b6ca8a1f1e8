import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets, ephemeralTargets } from '../../../test/support/stores.ts';
import type { Database } from '../../store/index.ts';
import { ephemeralAdapter } from './adapter.ts';
import { addClient, ClientError, findClient, listClients, removeClient, rotateClientSecret } from './clients.ts';
import { clientMetadata } from './clients.ts';
import { planRotation, rotateSigningKeys, type RotationPolicy, type SigningKey } from './keys.ts';
import { createSealer, SealError } from './sealing.ts';

const sealer = createSealer(Buffer.alloc(32, 1));
const DAY = 86_400_000;
const policy: RotationPolicy = { rotationMs: 30 * DAY, publishAheadMs: DAY, keepRetiredMs: 8 * 3_600_000 };

describe('sealing', () => {
  it('opens only what it sealed, for the same purpose, under the same key', () => {
    const sealed = sealer.seal('s3cret', 'client-secret:a');
    assert.equal(sealer.open(sealed, 'client-secret:a'), 's3cret');
    assert.ok(!Buffer.from(sealed).toString('latin1').includes('s3cret'));
    assert.throws(() => sealer.open(sealed, 'client-secret:b'), SealError);
    assert.throws(() => createSealer(Buffer.alloc(32, 2)).open(sealed, 'client-secret:a'), /oidc.encryptionKey/);
    const tampered = Buffer.from(sealed);
    tampered[tampered.length - 1]! ^= 1;
    assert.throws(() => sealer.open(tampered, 'client-secret:a'), SealError);
  });
});

describe('signing key rotation rules', () => {
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1) + ms);
  const key = (kid: string, state: SigningKey['state'], signsFrom: number, retiredAt: number | null = null): SigningKey => ({ kid, state, signsFrom: at(signsFrom), retiredAt: retiredAt === null ? null : at(retiredAt) });

  it('creates the first key, publishes the next one a day ahead, hands over, and drops the old one after its tokens expire', () => {
    assert.deepEqual(planRotation([], at(0), policy), [{ do: 'create', state: 'current', signsFrom: at(0) }]);
    assert.deepEqual(planRotation([key('a', 'current', 0)], at(28 * DAY), policy), []);
    assert.deepEqual(planRotation([key('a', 'current', 0)], at(29 * DAY), policy), [{ do: 'create', state: 'next', signsFrom: at(30 * DAY) }]);
    assert.deepEqual(planRotation([key('a', 'current', 0), key('b', 'next', 30 * DAY)], at(30 * DAY - 1), policy), []);
    assert.deepEqual(planRotation([key('a', 'current', 0), key('b', 'next', 30 * DAY)], at(30 * DAY), policy), [
      { do: 'retire', kid: 'a' },
      { do: 'promote', kid: 'b' },
    ]);
    assert.deepEqual(planRotation([key('a', 'retired', 0, 30 * DAY), key('b', 'current', 30 * DAY)], at(30 * DAY + policy.keepRetiredMs - 1), policy), []);
    assert.deepEqual(planRotation([key('a', 'retired', 0, 30 * DAY), key('b', 'current', 30 * DAY)], at(30 * DAY + policy.keepRetiredMs), policy), [{ do: 'delete', kid: 'a' }]);
  });

  it('after a long outage publishes the next key a full day before it signs', () => {
    assert.deepEqual(planRotation([key('a', 'current', 0)], at(90 * DAY), policy), [{ do: 'create', state: 'next', signsFrom: at(91 * DAY) }]);
  });
});

for (const target of databaseTargets()) {
  describe(`client registry and signing keys (${target.name})`, () => {
    let db: Database;
    before(async () => {
      db = await target.open();
    });
    after(async () => {
      await db.close();
    });

    it('registers a confidential client with a sealed secret, rotates and removes it', async () => {
      const { client, secret } = await addClient(db, sealer, { displayName: 'Journalen', redirectUris: ['https://journal.example/cb'], allowedClaims: ['name', 'commissionHsaId'] });
      assert.ok(secret && secret.length >= 43);
      assert.equal(client.tokenEndpointAuthMethod, 'client_secret_basic');
      assert.deepEqual(client.methods, ['oob-other', 'oob-same']);
      const [row] = await db.query<{ sealed: Uint8Array }>('select secret_encrypted as sealed from oidc_clients where client_id = $1', [client.clientId]);
      assert.ok(!Buffer.from(row!.sealed).toString('latin1').includes(secret), 'the secret is not stored in the clear');
      assert.equal((await clientMetadata(db, sealer, client.clientId))!['client_secret'], secret);
      const rotated = await rotateClientSecret(db, sealer, client.clientId, new Date());
      assert.notEqual(rotated, secret);
      assert.equal((await clientMetadata(db, sealer, client.clientId))!['client_secret'], rotated);
      assert.ok((await listClients(db)).some((c) => c.clientId === client.clientId));
      assert.equal(await removeClient(db, client.clientId), true);
      assert.equal(await findClient(db, client.clientId), null);
      assert.equal(await removeClient(db, client.clientId), false);
    });

    it('gives public clients no secret and refuses bad registrations', async () => {
      const { client, secret } = await addClient(db, sealer, { displayName: 'Appen', redirectUris: ['http://127.0.0.1:7000/cb'], public: true });
      assert.equal(secret, null);
      assert.equal(client.tokenEndpointAuthMethod, 'none');
      await assert.rejects(rotateClientSecret(db, sealer, client.clientId, new Date()), ClientError);
      const bad: [Parameters<typeof addClient>[2], RegExp][] = [
        [{ displayName: '', redirectUris: ['https://a.example/cb'] }, /display name/],
        [{ displayName: 'X', redirectUris: [] }, /redirect URI/],
        [{ displayName: 'X', redirectUris: ['http://a.example/cb'] }, /only https/],
        [{ displayName: 'X', redirectUris: ['https://a.example/cb#frag'] }, /fragment/],
        [{ displayName: 'X', redirectUris: ['https://a.example/cb'], allowedClaims: ['password'] }, /unknown claim password/],
        [{ displayName: 'X', redirectUris: ['https://a.example/cb'], methods: ['sms' as never] }, /unknown login method sms/],
        [{ displayName: 'X', redirectUris: ['https://a.example/cb'], tokenEndpointAuthMethod: 'private_key_jwt' }, /JWKS URI/],
      ];
      for (const [input, message] of bad) await assert.rejects(addClient(db, sealer, input), message, JSON.stringify(input));
    });

    it('keeps one signing key, publishes the next before it signs, and only the current one may sign', async () => {
      const start = new Date(Date.UTC(2030, 0, 1));
      const first = await rotateSigningKeys(db, sealer, 'RS256', policy, start);
      assert.equal(first.length, 1);
      assert.equal(first[0]!['key_ops'], undefined);
      assert.deepEqual((await rotateSigningKeys(db, sealer, 'RS256', policy, start)).map((k) => k.kid), [first[0]!.kid], 'a second node finds the same key');
      const published = await rotateSigningKeys(db, sealer, 'RS256', policy, new Date(start.getTime() + 29 * DAY));
      assert.equal(published.length, 2);
      assert.equal(published[0]!.kid, first[0]!.kid, 'the old key still signs');
      assert.deepEqual(published[1]!['key_ops'], ['verify']);
      const handedOver = await rotateSigningKeys(db, sealer, 'RS256', policy, new Date(start.getTime() + 30 * DAY));
      assert.equal(handedOver[0]!.kid, published[1]!.kid, 'the new key signs');
      assert.deepEqual(handedOver[1]!['key_ops'], ['verify'], 'the old key only verifies');
      const later = await rotateSigningKeys(db, sealer, 'RS256', policy, new Date(start.getTime() + 30 * DAY + policy.keepRetiredMs));
      assert.deepEqual(later.map((k) => k.kid), [published[1]!.kid]);
      const [row] = await db.query<{ sealed: Uint8Array }>('select private_jwk_encrypted as sealed from oidc_signing_keys limit 1');
      assert.ok(!Buffer.from(row!.sealed).toString('latin1').includes('"d"'), 'private keys are sealed');
    });
  });
}

for (const target of ephemeralTargets()) {
  describe(`oidc-provider models on the short-lived store (${target.name})`, () => {
    it('stores, finds by uid, consumes once, and hides every token of a revoked grant', async () => {
      const store = await target.open();
      try {
        const Adapter = ephemeralAdapter(store, 60_000, Date.now);
        const codes = new Adapter('AuthorizationCode');
        await codes.upsert('c1', { grantId: 'g1', accountId: 'a' }, 60);
        assert.deepEqual(await codes.find('c1'), { grantId: 'g1', accountId: 'a' });
        await codes.consume('c1');
        assert.equal(typeof (await codes.find('c1'))!.consumed, 'number');
        await assert.rejects(codes.consume('c1'), (e: Error & { error?: string }) => e.error === 'invalid_grant');
        const sessions = new Adapter('Session');
        await sessions.upsert('s1', { uid: 'u1', accountId: 'a' }, 60);
        assert.equal((await sessions.findByUid('u1'))!.accountId, 'a');
        const tokens = new Adapter('AccessToken');
        await tokens.upsert('t1', { grantId: 'g2' }, 60);
        await tokens.upsert('t2', { grantId: 'g3' }, 60);
        await tokens.revokeByGrantId('g2');
        assert.equal(await tokens.find('t1'), undefined);
        assert.ok(await tokens.find('t2'));
        await tokens.destroy('t2');
        assert.equal(await tokens.find('t2'), undefined);
      } finally {
        await store.close();
      }
    });
  });
}
