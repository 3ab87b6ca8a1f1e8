import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { KeyStoreError, openKeyStore } from './keystore.ts';

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KeyStoreError, String(error));
    return error.code;
  }
  return 'no error';
}

describe('eID app key store', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'tillit-app-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('signs with a key that only the right PIN unlocks, and OpenSSL reads the key with that PIN', async () => {
    const home = join(root, 'sign');
    const store = await openKeyStore(home);
    const { id, publicKey } = await store.createKey('mobile', 'Mobilt eID', '123456');
    const data = new TextEncoder().encode('challenge bytes');
    const signature = await store.sign(id, '123456', data);
    assert.ok(verify('sha256', data, publicKey, signature));
    const keyFile = join(root, 'key.pem');
    await writeFile(keyFile, store.list()[0]!.encryptedKeyPem);
    const text = execFileSync('openssl', ['pkey', '-in', keyFile, '-passin', 'pass:123456', '-noout', '-text'], { encoding: 'utf8' });
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.throws(() => execFileSync('openssl', ['pkey', '-in', keyFile, '-passin', 'pass:654321', '-noout'], { stdio: 'pipe' }));
  });

  it('locks after three wrong PINs in a row, remembered across restarts', async () => {
    const home = join(root, 'lock');
    const store = await openKeyStore(home);
    const { id } = await store.createKey('mobile', 'Mobilt eID', '123456');
    const data = new Uint8Array([1, 2, 3]);
    await assert.rejects(store.sign(id, '000000', data), (e: KeyStoreError) => e.code === 'wrongPin' && e.attemptsLeft === 2 && /2 attempts left/.test(e.message));
    await store.sign(id, '123456', data);
    await assert.rejects(store.sign(id, '000000', data), (e: KeyStoreError) => e.attemptsLeft === 2, 'a right PIN resets the count');
    const reopened = await openKeyStore(home);
    await assert.rejects(reopened.sign(id, '000001', data), (e: KeyStoreError) => e.code === 'wrongPin' && /1 attempt left/.test(e.message));
    await assert.rejects(reopened.sign(id, '000002', data), (e: KeyStoreError) => e.code === 'locked');
    assert.equal(reopened.locked, true);
    assert.equal(await codeOf(reopened.sign(id, '123456', data)), 'locked', 'the right PIN does not open a locked store');
    assert.equal(await codeOf((await openKeyStore(home)).sign(id, '123456', data)), 'locked');
  });

  it('keeps one PIN for the whole store', async () => {
    const store = await openKeyStore(join(root, 'one-pin'));
    await store.createKey('mobile', 'first', '123456');
    assert.equal(await codeOf(store.createKey('mobile', 'second', '999999')), 'wrongPin');
    await store.createKey('mobile', 'second', '123456');
    assert.equal(store.list().length, 2);
  });

  it('refuses a malformed PIN and an unknown credential without changing anything', async () => {
    const home = join(root, 'refusals');
    const store = await openKeyStore(home);
    for (const pin of ['12345', 'abcdef', '1234567890123', '']) assert.equal(await codeOf(store.createKey('mobile', 'x', pin)), 'badPin');
    assert.equal(store.list().length, 0);
    assert.equal(await codeOf(store.sign('no-such-id', '123456', new Uint8Array())), 'notFound');
  });

  it('refuses a damaged store and leaves the file as it was', async () => {
    const home = join(root, 'damaged');
    await (await openKeyStore(home)).createKey('mobile', 'x', '123456');
    const file = join(home, 'keystore.json');
    await writeFile(file, '{"version": 1, "credentials": [');
    await assert.rejects(openKeyStore(home), (e: KeyStoreError) => e.code === 'corrupt' && e.message.includes(file));
    assert.equal(await readFile(file, 'utf8'), '{"version": 1, "credentials": [');
  });
  it("a locked card is unlocked by the HMAC of its challenge under its admin key (computed here by OpenSSL), once per challenge", async () => {
    const store = await openKeyStore(join(root, 'unlock'));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential = await store.importKey('card', 'Kort', '123456', privateKey, '', [], { cardId: 'card-1', uses: ['auth'] });
    assert.equal(await codeOf(store.unlockChallenge('card-1')), 'notFound', 'no admin key: no unlock');
    const adminKey = randomBytes(32);
    await store.setCardAdminKey('card-1', adminKey);
    for (let i = 0; i < 3; i++) await codeOf(store.sign(credential, '000000', Buffer.from('x')));
    assert.equal(store.locked, true);
    const answer = (challenge: string) => {
      const file = join(root, 'challenge.bin');
      return writeFile(file, Buffer.from(challenge, 'base64')).then(() =>
        execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${adminKey.toString('hex')}`, '-binary', file]).toString('base64'),
      );
    };
    const first = await store.unlockChallenge('card-1');
    assert.equal(await codeOf(store.unlockCard('card-1', (await answer(first)).replace(/^./, (c) => (c === 'A' ? 'B' : 'A')))), 'unlockRefused');
    assert.equal(await codeOf(store.unlockCard('card-1', await answer(first))), 'unlockRefused', 'the challenge was used up by the wrong response');
    assert.equal(store.locked, true);
    const second = await store.unlockChallenge('card-1');
    await store.unlockCard('card-1', await answer(second));
    assert.equal(store.locked, false);
    assert.equal((await store.sign(credential, '123456', Buffer.from('x'))).length > 0, true);
    assert.equal(await codeOf(store.unlockCard('card-1', await answer(second))), 'unlockRefused', 'a response unlocks once');
  });
});
