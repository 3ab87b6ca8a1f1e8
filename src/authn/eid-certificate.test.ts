import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyObject, sign, webcrypto } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { checkEidCertificate, type EidTrust } from './eid-certificate.ts';
import { createAnswerVerifier } from './verify-answer.ts';

const crypto = webcrypto as unknown as Crypto;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;
const LOA3 = '2.25.1000.3';
const LOA2 = '2.25.1000.2';
const now = new Date('2026-11-23T12:00:00Z');

interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

let serial = 1;
async function issue(options: { subject: string; issuer?: Issued; ca?: boolean; usages?: x509.KeyUsageFlags; policies?: string[]; notBefore?: Date; notAfter?: Date }): Promise<Issued> {
  const keys = (await crypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(Boolean(options.ca), undefined, true),
    new x509.KeyUsagesExtension(options.usages ?? (options.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature), true),
  ];
  if (options.policies) extensions.push(new x509.CertificatePolicyExtension(options.policies));
  const common = { serialNumber: (serial++).toString(16).padStart(2, '0'), notBefore: options.notBefore ?? new Date(now.getTime() - DAY), notAfter: options.notAfter ?? new Date(now.getTime() + 365 * DAY), signingAlgorithm: ALG, extensions };
  const cert = options.issuer
    ? await x509.X509CertificateGenerator.create({ ...common, subject: options.subject, issuer: options.issuer.cert.subject, publicKey: keys.publicKey, signingKey: options.issuer.keys.privateKey }, crypto)
    : await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: options.subject, keys }, crypto);
  return { cert, keys };
}

describe('eID certificate checks', () => {
  let root: Issued;
  let personCa: Issued;
  let foreignRoot: Issued;
  let foreignCa: Issued;
  const revoked = new Set<string>();
  let trust: EidTrust;
  let dir: string;

  before(async () => {
    root = await issue({ subject: 'CN=Tillit Test Root', ca: true });
    personCa = await issue({ subject: 'CN=Tillit Person CA', ca: true, issuer: root });
    foreignRoot = await issue({ subject: 'CN=Tillit Test Root', ca: true });
    foreignCa = await issue({ subject: 'CN=Tillit Person CA', ca: true, issuer: foreignRoot });
    trust = {
      anchors: [root.cert.toString('pem'), personCa.cert.toString('pem')],
      policyLoa: { [LOA3]: 3, [LOA2]: 2 },
      async revocationStatus(certificate) {
        return revoked.has(certificate.serialNumber) ? { status: 'revoked', evidence: 'test', reason: 'keyCompromise' } : { status: 'good', evidence: 'test' };
      },
    };
    dir = await mkdtemp(join(tmpdir(), 'tillit-eid-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const person = (extra: Partial<Parameters<typeof issue>[0]> = {}) =>
    issue({ subject: 'CN=Tolvan Tolvansson, 2.5.4.42=Tolvan, 2.5.4.4=Tolvansson, 2.5.4.5=191212121212', issuer: personCa, policies: [LOA3], ...extra });

  it('accepts a valid eID, reading identifier, names and LoA — and OpenSSL agrees the chain is good', async () => {
    const eid = await person();
    const result = await checkEidCertificate(eid.cert.toString('pem'), 'auth', {}, trust, now);
    assert.ok(result.ok, !result.ok ? result.reason : '');
    assert.equal(result.eid.identifier, '191212121212');
    assert.equal(result.eid.givenName, 'Tolvan');
    assert.equal(result.eid.surname, 'Tolvansson');
    assert.equal(result.eid.loa, 3);
    await writeFile(join(dir, 'root.pem'), root.cert.toString('pem'));
    await writeFile(join(dir, 'ca.pem'), personCa.cert.toString('pem'));
    await writeFile(join(dir, 'eid.pem'), eid.cert.toString('pem'));
    const verdict = execFileSync('openssl', ['verify', '-attime', String(now.getTime() / 1000), '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'ca.pem'), join(dir, 'eid.pem')], { encoding: 'utf8' });
    assert.match(verdict, /eid\.pem: OK/);
  });

  it('refuses a certificate from a foreign CA with the same names', async () => {
    const eid = await issue({ subject: 'CN=Tolvan, 2.5.4.5=191212121212', issuer: foreignCa, policies: [LOA3] });
    const result = await checkEidCertificate(eid.cert.toString('pem'), 'auth', {}, trust, now);
    assert.deepEqual(result, { ok: false, reason: 'the certificate is not issued by a CA we trust', code: 'untrustedIssuer' });
  });

  it('refuses expired and not-yet-valid certificates', async () => {
    const expired = await person({ notBefore: new Date(now.getTime() - 10 * DAY), notAfter: new Date(now.getTime() - DAY) });
    const early = await person({ notBefore: new Date(now.getTime() + DAY) });
    for (const eid of [expired, early]) {
      const result = await checkEidCertificate(eid.cert.toString('pem'), 'auth', {}, trust, now);
      assert.ok(!result.ok && /not valid now/.test(result.reason));
    }
  });

  it('refuses a revoked certificate', async () => {
    const eid = await person();
    revoked.add(eid.cert.serialNumber);
    assert.deepEqual(await checkEidCertificate(eid.cert.toString('pem'), 'auth', {}, trust, now), { ok: false, reason: 'the certificate is revoked (keyCompromise)', code: 'revoked' });
  });

  it('fails closed when revocation status is unknown', async () => {
    const eid = await person();
    const unsure: EidTrust = { ...trust, revocationStatus: async () => ({ status: 'unknown', evidence: null }) };
    assert.deepEqual(await checkEidCertificate(eid.cert.toString('pem'), 'auth', {}, unsure, now), { ok: false, reason: 'the revocation status of the certificate cannot be established', code: 'revocationUnknown' });
  });

  it('tells the user to pick the authentication certificate when they chose the signature one', async () => {
    const signature = await person({ usages: x509.KeyUsageFlags.nonRepudiation });
    const login = await checkEidCertificate(signature.cert.toString('pem'), 'auth', {}, trust, now);
    assert.ok(!login.ok && /choose the authentication certificate/.test(login.reason));
    assert.ok((await checkEidCertificate(signature.cert.toString('pem'), 'sign', {}, trust, now)).ok);
  });

  it('refuses a CA certificate, a certificate without an accepted policy, and garbage', async () => {
    const asEid = await checkEidCertificate(personCa.cert.toString('pem'), 'auth', {}, trust, now);
    assert.ok(!asEid.ok);
    const noPolicy = await person({ policies: ['2.25.999'] });
    assert.deepEqual(await checkEidCertificate(noPolicy.cert.toString('pem'), 'auth', {}, trust, now), { ok: false, reason: 'the certificate carries no policy of an eID we accept', code: 'policy' });
    for (const garbage of ['', 'not a certificate', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----']) {
      assert.deepEqual(await checkEidCertificate(garbage, 'auth', {}, trust, now), { ok: false, reason: 'the certificate cannot be read', code: 'unreadable' });
    }
  });

  it('applies the caller’s requirements: person, policy and minimum LoA', async () => {
    const loa2 = await person({ policies: [LOA2] });
    const pem = loa2.cert.toString('pem');
    assert.ok((await checkEidCertificate(pem, 'auth', { personalIdentityNumber: '191212121212', minimumLoa: 2 }, trust, now)).ok);
    assert.deepEqual(await checkEidCertificate(pem, 'auth', { personalIdentityNumber: '199001011234' }, trust, now), { ok: false, reason: 'the eID belongs to another person than the one asked for', code: 'requirement' });
    assert.deepEqual(await checkEidCertificate(pem, 'auth', { minimumLoa: 3 }, trust, now), { ok: false, reason: 'the eID has assurance level 2; the service requires 3', code: 'requirement' });
    assert.deepEqual(await checkEidCertificate(pem, 'auth', { certificatePolicies: [LOA3] }, trust, now), { ok: false, reason: 'the eID is not of a kind the service accepts (certificate policy)', code: 'requirement' });
  });

  describe('an app answer', () => {
    const challenge = new TextEncoder().encode('tillit-authn-v1\norder\nauth\nidp\ndigest\nnonce');
    const signWith = (keys: CryptoKeyPair) => sign('sha256', challenge, KeyObject.from(keys.privateKey)).toString('base64');
    const verifier = () =>
      createAnswerVerifier({
        trust,
        now: () => now,
        resolvePerson: async (identifier) => (identifier === '191212121212' ? { personalIdentityNumber: identifier, givenName: 'Tolvan', surname: 'Tolvansson', name: 'Tolvan Tolvansson', hsaId: 'SE2321000016-1000' } : undefined),
      });

    it('completes with the person from the directory when signature and certificate hold', async () => {
      const eid = await person();
      const verdict = await verifier()({ challenge, answer: { signature: signWith(eid.keys), certificatePem: eid.cert.toString('pem') }, requirements: {}, kind: 'auth' });
      assert.ok(verdict.ok);
      assert.deepEqual(verdict.completion.user, { personalIdentityNumber: '191212121212', givenName: 'Tolvan', surname: 'Tolvansson', name: 'Tolvan Tolvansson', hsaId: 'SE2321000016-1000' });
      assert.equal(verdict.completion.loa, 3);
    });

    it('refuses a signature by another key than the certificate’s, and a malformed one', async () => {
      const eid = await person();
      const other = await person();
      for (const signature of [signWith(other.keys), 'AAAA', '']) {
        const verdict = await verifier()({ challenge, answer: { signature, certificatePem: eid.cert.toString('pem') }, requirements: {}, kind: 'auth' });
        assert.deepEqual(verdict, { ok: false, hint: 'certificateErr', reason: 'the signature was not made by the key of the certificate presented' });
      }
    });

    it('refuses a well-signed answer whose certificate fails a rule', async () => {
      const eid = await person();
      revoked.add(eid.cert.serialNumber);
      const verdict = await verifier()({ challenge, answer: { signature: signWith(eid.keys), certificatePem: eid.cert.toString('pem') }, requirements: {}, kind: 'auth' });
      assert.deepEqual(verdict, { ok: false, hint: 'certificateErr', reason: 'the certificate is revoked (keyCompromise)' });
    });

    it('identifies a holder the directory does not know by the certificate alone', async () => {
      const eid = await issue({ subject: 'CN=Okänd Person, 2.5.4.5=SE2321000016-9999', issuer: personCa, policies: [LOA3] });
      const verdict = await verifier()({ challenge, answer: { signature: signWith(eid.keys), certificatePem: eid.cert.toString('pem') }, requirements: {}, kind: 'auth' });
      assert.ok(verdict.ok);
      assert.deepEqual(verdict.completion.user, { hsaId: 'SE2321000016-9999', name: 'Okänd Person' });
    });
  });
});
