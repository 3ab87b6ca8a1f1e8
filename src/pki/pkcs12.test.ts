import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { after, describe, it } from 'node:test';
import { openssl, scratch } from '../../test/support/openssl.ts';
import { generateKeyPair, webCrypto } from './keys.ts';
import { exportPkcs12, Pkcs12Error, readPkcs12 } from './pkcs12.ts';

/** A key and a self-signed certificate from OpenSSL, so the inputs are not our own code either. */
function opensslPair(files: ReturnType<typeof scratch>, name: string, key: string[]) {
  const made = openssl(['req', '-x509', ...key, '-nodes', '-keyout', files.path(`${name}.key`), '-out', files.path(`${name}.pem`), '-subj', `/CN=${name}`, '-days', '1']);
  assert.ok(made.ok, made.output);
  return { key: createPrivateKey(files.read(`${name}.key`)), certificate: new X509Certificate(files.read(`${name}.pem`)) };
}

describe('PKCS#12 export', () => {
  const files = scratch();
  after(() => files.done());

  for (const [name, key] of [
    ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['rsa', ['-newkey', 'rsa:2048']],
  ] as const) {
    it(`writes a ${name} key and its chain that OpenSSL and Node's TLS open with the password, and only with it`, async () => {
      const holder = opensslPair(files, `${name}-holder`, [...key]);
      const ca = opensslPair(files, `${name}-ca`, [...key]);
      const p12 = await exportPkcs12({ privateKey: holder.key, certificates: [holder.certificate.raw, ca.certificate.raw], password: 'kort lösenord 1', friendlyName: 'Testkort 1' });
      const file = files.file(`${name}.p12`, p12);

      const opened = openssl(['pkcs12', '-in', file, '-passin', 'pass:kort lösenord 1', '-nodes']);
      assert.ok(opened.ok, opened.output);
      assert.match(opened.output, /friendlyName: Testkort 1/);
      assert.equal(opened.output.match(/-----BEGIN CERTIFICATE-----/g)?.length, 2);
      const keyPem = opened.output.slice(opened.output.indexOf('-----BEGIN PRIVATE KEY-----'));
      assert.deepEqual(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }), holder.certificate.publicKey.export({ type: 'spki', format: 'der' }));
      assert.match(openssl(['pkcs12', '-in', file, '-passin', 'pass:kort lösenord 1', '-info', '-noout']).output, /MAC: sha256.*Iteration 2048[\s\S]*PBES2, PBKDF2, AES-256-CBC/);

      assert.doesNotThrow(() => createSecureContext({ pfx: Buffer.from(p12), passphrase: 'kort lösenord 1' }));
      assert.throws(() => createSecureContext({ pfx: Buffer.from(p12), passphrase: 'wrong' }));
      assert.equal(openssl(['pkcs12', '-in', file, '-passin', 'pass:wrong', '-nodes']).ok, false);
    });
  }

  it('takes a WebCrypto key as well', async () => {
    const pair = await generateKeyPair('ecdsa-p384');
    const holder = opensslPair(files, 'other', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']);
    const p12 = await exportPkcs12({ privateKey: pair.privateKey, certificates: [holder.certificate.raw], password: 'pw' });
    const opened = openssl(['pkcs12', '-in', files.file('webcrypto.p12', p12), '-passin', 'pass:pw', '-nodes']);
    assert.ok(opened.ok, opened.output);
    const keyPem = opened.output.slice(opened.output.indexOf('-----BEGIN PRIVATE KEY-----'));
    assert.deepEqual(new Uint8Array(createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' })), new Uint8Array(await webCrypto.subtle.exportKey('spki', pair.publicKey)));
  });

  it('reads back what OpenSSL 3 and this module write, with the MAC checked first', async () => {
    const holder = opensslPair(files, 'reader', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const spki = holder.certificate.publicKey.export({ type: 'spki', format: 'der' });
    const theirs = files.path('theirs.p12');
    assert.ok(openssl(['pkcs12', '-export', '-in', files.path('reader.pem'), '-inkey', files.path('reader.key'), '-out', theirs, '-passout', 'pass:hemligt']).ok);
    const ours = await exportPkcs12({ privateKey: holder.key, certificates: [holder.certificate.raw], password: 'hemligt' });
    for (const der of [new Uint8Array(files.read('theirs.p12')), ours]) {
      const read = await readPkcs12(der, 'hemligt');
      assert.deepEqual(createPublicKey(read.privateKey).export({ type: 'spki', format: 'der' }), spki);
      assert.deepEqual(read.certificates.map((c) => Buffer.from(c)), [holder.certificate.raw]);
      await assert.rejects(readPkcs12(der, 'fel'), (error: Error) => error instanceof Pkcs12Error && /wrong password/.test(error.message));
    }
  });

  it('refuses legacy, garbage, truncated and oversized files with the reason', async () => {
    const legacy = files.path('legacy.p12');
    assert.ok(openssl(['pkcs12', '-export', '-legacy', '-in', files.path('reader.pem'), '-inkey', files.path('reader.key'), '-out', legacy, '-passout', 'pass:hemligt']).ok);
    const good = new Uint8Array(files.read('theirs.p12'));
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(files.read('legacy.p12')), /legacy encryption/],
      [new Uint8Array(0), /cannot be opened/],
      [new TextEncoder().encode('hello'), /cannot be opened/],
      [good.subarray(0, good.length >> 1), /cannot be opened/],
      [new Uint8Array(300_000), /larger than/],
    ];
    for (const [der, reason] of cases) await assert.rejects(readPkcs12(der, 'hemligt'), (error: Error) => error instanceof Pkcs12Error && reason.test(error.message));
  });
});
