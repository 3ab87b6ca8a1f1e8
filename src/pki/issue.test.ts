import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import type { Database } from '../store/index.ts';
import { ensureHierarchy, type CaId, type LoadedCa } from './hierarchy.ts';
import { issue, IssuanceRefused, issueWithNewKey, readCsr, type IssuerContext } from './issue.ts';

const PLAIN = 'http://pki.test:8080';
const config = loadConfig({ overrides: { dataDir: 'memory://' } }).pki;
const LOA3 = `${config.policyArc}.1.3`;

for (const target of databaseTargets()) {
  describe(`issuance (${target.name})`, () => {
    let db: Database;
    let cas: Map<CaId, LoadedCa>;
    let context: IssuerContext;
    const files = scratch();

    before(async () => {
      db = await target.open();
      cas = await ensureHierarchy(db, config, PLAIN, 'test passphrase 0123456789', new Date());
      context = { db, cas, plainBaseUrl: PLAIN, policyArc: config.policyArc, now: () => new Date() };
      files.file('root.pem', cas.get('root')!.certificate.toString('pem'));
      files.file('test-root.pem', cas.get('test-root')!.certificate.toString('pem'));
    });
    after(async () => {
      files.done();
      await db.close();
    });

    const count = async () => (await db.query<{ n: number }>('select count(*) as n from pki_certificates'))[0]!.n;

    it('creates the hierarchy once, and the same CAs on a second start', async () => {
      assert.equal(cas.size, 9);
      const again = await ensureHierarchy(db, config, PLAIN, 'test passphrase 0123456789', new Date());
      assert.equal(again.get('root')!.certificate.serialNumber, cas.get('root')!.certificate.serialNumber);
      for (const id of ['person-hsa-loa3', 'mobile', 'function'] as const) {
        const ca = files.file(`${id}.pem`, cas.get(id)!.certificate.toString('pem'));
        assert.match(openssl(['verify', '-CAfile', files.path('root.pem'), ca]).output, /: OK/);
        const text = openssl(['x509', '-in', ca, '-noout', '-text']).output;
        assert.match(text, /CA:TRUE, pathlen:0/);
        assert.match(text, /Certificate Sign, CRL Sign/);
        assert.match(text, new RegExp(`URI:${PLAIN}/crl/root\\.crl`));
      }
      await assert.rejects(ensureHierarchy(db, config, PLAIN, 'the wrong passphrase!!', new Date()), /cannot be opened: wrong pki\.keyPassphrase/);
    });

    it('issues a person certificate from an OpenSSL CSR that OpenSSL then verifies, with the profile’s fields', async () => {
      const csr = opensslCsr(files, 'tolvan', { subject: '/C=SE/CN=Tolvan Tolvansson/GN=Tolvan/SN=Tolvansson/serialNumber=191212121212' });
      const { publicKey, subject } = await readCsr(csr);
      const issued = await issue(context, 'person-auth-pnr-loa3', publicKey, subject);
      const cert = files.file('tolvan.pem', issued.certificatePem);
      const untrusted = files.file('chain.pem', issued.chainPem.slice(0, -1).join(''));
      assert.match(openssl(['verify', '-CAfile', files.path('root.pem'), '-untrusted', untrusted, '-purpose', 'sslclient', cert]).output, /tolvan\.pem: OK/);
      const text = openssl(['x509', '-in', cert, '-noout', '-text']).output;
      assert.match(text, /Subject: C ?= ?SE, CN ?= ?Tolvan Tolvansson, GN ?= ?Tolvan, SN ?= ?Tolvansson, serialNumber ?= ?191212121212/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
      assert.match(text, /TLS Web Client Authentication/);
      assert.match(text, new RegExp(`Policy: ${LOA3.replace(/\./g, '\\.')}`));
      assert.match(text, new RegExp(`OCSP - URI:${PLAIN}/ocsp`));
      assert.match(text, new RegExp(`CA Issuers - URI:${PLAIN}/ca/person-pnr-loa3\\.crt`));
      assert.match(text, new RegExp(`URI:${PLAIN}/crl/person-pnr-loa3\\.crl`));
      const serial = BigInt(`0x${issued.serial}`);
      assert.ok(serial > 2n ** 64n, 'at least 64 random bits');
      const node = new X509Certificate(issued.certificatePem);
      assert.equal(node.serialNumber.toLowerCase(), issued.serial);
      assert.ok(node.verify(new X509Certificate(issued.chainPem[0]!).publicKey));
    });

    it('issues server certificates with DNS names and an RSA key, refusing what the profile forbids', async () => {
      const csr = opensslCsr(files, 'server', { subject: '/CN=journal.region.example/serialNumber=SE2321000016-F001', key: ['-newkey', 'rsa:2048'], san: 'DNS:journal.region.example,DNS:www.journal.region.example' });
      const { publicKey, subject } = await readCsr(csr);
      const issued = await issue(context, 'function-server', publicKey, subject);
      const text = openssl(['x509', '-in', files.file('server.pem', issued.certificatePem), '-noout', '-text']).output;
      assert.match(text, /DNS:journal\.region\.example, DNS:www\.journal\.region\.example/);
      assert.match(text, /TLS Web Server Authentication/);
      assert.ok(issued.certificate.notAfter.getTime() - issued.certificate.notBefore.getTime() <= 398 * 86_400_000);
    });

    it('refuses with a reason and stores nothing', async () => {
      const before = await count();
      const refusal = async (profile: Parameters<typeof issue>[1], csrOptions: Parameters<typeof opensslCsr>[2]) => {
        const csr = opensslCsr(files, 'refused', csrOptions);
        try {
          const { publicKey, subject } = await readCsr(csr);
          await issue(context, profile, publicKey, subject);
        } catch (error) {
          assert.ok(error instanceof IssuanceRefused, String(error));
          return error.message;
        }
        return 'issued';
      };
      assert.match(await refusal('person-auth-pnr-loa3', { subject: '/CN=X/GN=X/SN=Y/serialNumber=191212121213' }), /serialNumber: .*check digit/i);
      assert.match(await refusal('person-auth-hsa-loa3', { subject: '/CN=X/GN=X/SN=Y/serialNumber=191212121212' }), /serialNumber: /);
      assert.match(await refusal('person-auth-pnr-loa3', { subject: '/CN=X/serialNumber=191212121212' }), /needs givenName in the subject/);
      assert.match(await refusal('person-auth-pnr-loa3', { subject: '/CN=X/GN=X/SN=Y/serialNumber=191212121212', san: 'DNS:evil.example' }), /does not allow DNS names/);
      assert.match(await refusal('function-server', { subject: '/CN=a/serialNumber=SE2321000016-F002' }), /needs at least one of DNS names/);
      assert.match(await refusal('function-server', { subject: '/CN=a/serialNumber=SE2321000016-F002', san: 'DNS:*.region.example' }), /no wildcards/);
      assert.match(await refusal('function-server', { subject: '/CN=a/OU=Unit/serialNumber=SE2321000016-F002', san: 'DNS:a.example' }), /attribute \(OU\) that no profile allows/);
      assert.match(await refusal('function-client', { subject: '/CN=a/serialNumber=SE2321000016-F002', key: ['-newkey', 'rsa:1024'] }), /RSA key of 1024 bits is not allowed/);
      assert.match(await refusal('function-client', { subject: '/CN=a/serialNumber=SE2321000016-F002', key: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp256k1'] }), /EC key on secp256k1 is not allowed/);
      for (const [subject, reason] of [
        [{ commonName: 'a', serialNumber: 'SE2321000016-F002', dnsNames: 'a.example' }, /dnsNames must be a list of text/],
        [{ commonName: 'a', serialNumber: 'SE2321000016-F002', dnsNames: ['a.example'], ipAddresses: [7] }, /ipAddresses must be a list of text/],
        [{ commonName: 42, serialNumber: 'SE2321000016-F002', dnsNames: ['a.example'] }, /commonName must be text/],
      ] as const) {
        await assert.rejects(issueWithNewKey(context, 'function-server', subject as never), (error: Error) => error instanceof IssuanceRefused && reason.test(error.message));
      }
      assert.equal(await count(), before);
    });

    it('refuses garbage, truncated, oversized and forged CSRs', async () => {
      const good = opensslCsr(files, 'good', { subject: '/CN=a/serialNumber=SE2321000016-F003' });
      const body = good.split('\n').filter((l) => !l.startsWith('-----')).join('');
      const der = Buffer.from(body, 'base64');
      // Flip a byte inside the signature: the CSR still parses but no longer verifies.
      der[der.length - 5]! ^= 0xff;
      const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----`;
      const cases: [string, RegExp][] = [
        ['', /cannot be read/],
        ['hello', /cannot be read/],
        [good.slice(0, good.length / 2), /cannot be read/],
        ['x'.repeat(70_000), /larger than 64 KiB/],
        [forged, /signature does not verify|cannot be read/],
      ];
      for (const [input, reason] of cases) await assert.rejects(readCsr(input), (error: Error) => error instanceof IssuanceRefused && reason.test(error.message));
    });

    it('reads CSRs as OpenSSL wrote them, and refuses every truncation, flipped byte and weak signature with a reason', async () => {
      const csr = opensslCsr(files, 'read', { subject: '/C=SE/O=Region Syd/CN=Åsa Öberg/serialNumber=SE2321000016-F004', san: 'DNS:a.region.example,IP:192.0.2.1,IP:2001:db8::1,email:a@region.example', key: ['-newkey', 'rsa:2048', '-utf8'] });
      const { subject } = await readCsr(csr);
      assert.deepEqual(subject, { country: 'SE', organization: 'Region Syd', commonName: 'Åsa Öberg', serialNumber: 'SE2321000016-F004', dnsNames: ['a.region.example'], emails: ['a@region.example'], ipAddresses: ['192.0.2.1', '2001:db8:0:0:0:0:0:1'] });
      await assert.rejects(readCsr(opensslCsr(files, 'uri', { subject: '/CN=a', san: 'URI:https://a.example' })), /subjectAltName of type URI/);
      await assert.rejects(readCsr(opensslCsr(files, 'sha1', { subject: '/CN=a', key: ['-newkey', 'rsa:2048', '-sha1'] })), /signed with algorithm 1\.2\.840\.113549\.1\.1\.5; use SHA-256 or stronger/);
      const der = Buffer.from(csr.split('\n').filter((l) => l && !l.startsWith('-----')).join(''), 'base64');
      const pem = (bytes: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(bytes).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
      assert.equal((await readCsr(pem(der))).subject.commonName, 'Åsa Öberg');
      const refusedOnly = async (input: string, what: string) => {
        const error = await readCsr(input).then(() => undefined, (e: Error) => e);
        assert.ok(error instanceof IssuanceRefused, `${what}: ${error ? String(error) : 'accepted'}`);
      };
      for (let length = 0; length < der.length; length++) await refusedOnly(pem(der.subarray(0, length)), `truncated to ${length}`);
      await refusedOnly(pem(Buffer.concat([der, Buffer.of(0)])), 'a byte after the end');
      for (let at = 0; at < der.length; at++) {
        const flipped = Buffer.from(der);
        flipped[at]! ^= 0x41;
        await refusedOnly(pem(flipped), `byte ${at} flipped`);
      }
    });

    it('issues a test card with a key made here, chaining only to the test root', async () => {
      const card = await issueWithNewKey(context, 'test', { commonName: 'Testkort 1', serialNumber: '191212121212' });
      const cert = files.file('card.pem', card.certificatePem);
      const chain = files.file('card-chain.pem', card.chainPem.slice(0, -1).join(''));
      assert.match(openssl(['verify', '-CAfile', files.path('test-root.pem'), '-untrusted', chain, cert]).output, /card\.pem: OK/);
      assert.doesNotMatch(openssl(['verify', '-CAfile', files.path('root.pem'), '-untrusted', chain, cert]).output, /card\.pem: OK/);
      assert.match(card.privateKeyPem, /^-----BEGIN PRIVATE KEY-----/);
    });
  });
}
