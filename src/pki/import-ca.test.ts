import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import type { Database } from '../store/index.ts';
import { nextCrlNumber, revokedEntries, writeCrl } from './crl.ts';
import { ensureHierarchy } from './hierarchy.ts';
import { CaImportRefused, importCa, type CaImport } from './import-ca.ts';
import { issue, issueWithNewKey, readCsr } from './issue.ts';
import { revokeCertificate } from './revoke.ts';

const PLAIN = 'http://pki.test:8080';
const PASSPHRASE = 'test passphrase 0123456789';
const config = loadConfig({ overrides: { dataDir: 'memory://' } }).pki;

/** An organisation's own CA, made by OpenSSL: a root and an issuing CA under it, the issuing key encrypted. */
function organisationCa(files: ReturnType<typeof scratch>) {
  const ext = files.file('ca.ext', 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  const run = (args: string[]) => {
    const result = openssl(args);
    if (!result.ok) throw new Error(result.output);
  };
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', files.path('org-root.key'), '-out', files.path('org-root.pem'), '-subj', '/C=SE/O=Region Norr/CN=Region Norr Root', '-days', '3650', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  run(['req', '-new', '-newkey', 'rsa:3072', '-passout', 'pass:org key passphrase', '-keyout', files.path('org-ca.key'), '-out', files.path('org-ca.csr'), '-subj', '/C=SE/O=Region Norr/CN=Region Norr Function CA']);
  run(['x509', '-req', '-in', files.path('org-ca.csr'), '-CA', files.path('org-root.pem'), '-CAkey', files.path('org-root.key'), '-CAcreateserial', '-days', '1825', '-extfile', ext, '-out', files.path('org-ca.pem')]);
  return {
    certificatePem: files.read('org-ca.pem').toString('utf8'),
    privateKeyPem: files.read('org-ca.key').toString('utf8'),
    privateKeyPassphrase: 'org key passphrase',
  };
}

for (const target of databaseTargets()) {
  describe(`bring your own CA (${target.name})`, () => {
    let db: Database;
    const files = scratch();
    let org: ReturnType<typeof organisationCa>;

    before(async () => {
      db = await target.open();
      org = organisationCa(files);
      // What every start issues under the CA by itself does not count as the CA having issued.
      const cas = await ensureHierarchy(db, config, PLAIN, PASSPHRASE, new Date());
      await issueWithNewKey({ db, cas, plainBaseUrl: PLAIN, policyArc: config.policyArc, now: () => new Date() }, 'ocsp-signer', { commonName: 'Function CA OCSP' }, 'ecdsa-p256', 'function');
    });
    after(async () => {
      files.done();
      await db.close();
    });

    const storedCa = async (id: string) => (await db.query<{ certificate_der: Uint8Array; imported: boolean }>('select certificate_der, imported from pki_cas where id = $1', [id]))[0]!;
    const refusal = async (request: CaImport) => {
      try {
        await importCa(db, request, PASSPHRASE, new Date());
      } catch (error) {
        assert.ok(error instanceof CaImportRefused, String(error));
        assert.doesNotMatch(error.message, /PRIVATE KEY|org key passphrase/);
        return error.message;
      }
      return 'imported';
    };

    it('refuses garbage, the wrong key, non-CA certificates and the roots, changing nothing; then imports', async () => {
      const before = await storedCa('function');
      const run = (args: string[]) => assert.ok(openssl(args).ok, args.join(' '));
      run(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.path('leaf.key'), '-out', files.path('leaf.csr'), '-subj', '/CN=leaf']);
      run(['x509', '-req', '-in', files.path('leaf.csr'), '-CA', files.path('org-root.pem'), '-CAkey', files.path('org-root.key'), '-days', '30', '-extfile', files.file('leaf.ext', 'basicConstraints=critical,CA:FALSE\n'), '-out', files.path('leaf.pem')]);
      run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024', '-out', files.path('weak.key')]);
      run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', files.path('k1.key')]);
      const text = (name: string) => files.read(name).toString('utf8');
      const [leaf, weakKey, k1Key] = [text('leaf.pem'), text('weak.key'), text('k1.key')];
      const cases: [Partial<CaImport>, RegExp][] = [
        [{ certificatePem: 'hello' }, /not a PEM X\.509 certificate/],
        [{ certificatePem: org.certificatePem.slice(0, org.certificatePem.length / 2) }, /not a PEM X\.509 certificate/],
        [{ certificatePem: 'x'.repeat(300_000) }, /larger than/],
        [{ certificatePem: leaf, privateKeyPem: text('leaf.key'), privateKeyPassphrase: undefined }, /not a CA certificate/],
        [{ privateKeyPem: 'garbage' }, /cannot be read/],
        [{ privateKeyPassphrase: 'wrong passphrase' }, /cannot be read/],
        [{ privateKeyPassphrase: undefined }, /encrypted: give its passphrase/],
        [{ privateKeyPem: text('org-root.key'), privateKeyPassphrase: undefined }, /does not belong to the certificate/],
        [{ privateKeyPem: weakKey, privateKeyPassphrase: undefined }, /RSA 1024-bit keys are not allowed/],
        [{ privateKeyPem: k1Key, privateKeyPassphrase: undefined }, /EC curve secp256k1 is not allowed/],
        [{ id: 'root' }, /cannot be imported/],
        [{ id: 'nonsense' }, /cannot be imported/],
      ];
      for (const [change, reason] of cases) assert.match(await refusal({ id: 'function', ...org, ...change }), reason, JSON.stringify(Object.keys(change)));
      assert.deepEqual(await storedCa('function'), before);
      const imported = await importCa(db, { id: 'function', ...org }, PASSPHRASE, new Date());
      assert.deepEqual(imported, { id: 'function', subject: 'C=SE, O=Region Norr, CN=Region Norr Function CA', algorithm: 'rsa-3072' });
      assert.equal((await storedCa('function')).imported, true);
      const [event] = await db.query<{ n: number }>(`select count(*)::int as n from pki_events where action = 'ca-imported' and ca_id = 'function'`);
      assert.equal(event!.n, 1);
    });

    it('issues and publishes CRLs under the imported CA, which OpenSSL verifies up to the organisation’s root', async () => {
      const cas = await ensureHierarchy(db, config, PLAIN, PASSPHRASE, new Date());
      const ca = cas.get('function')!;
      assert.equal(ca.imported, true);
      assert.equal(ca.certificate.subject, 'C=SE, O=Region Norr, CN=Region Norr Function CA');
      assert.equal(ca.signer.algorithm, 'rsa-3072');
      const context = { db, cas, plainBaseUrl: PLAIN, policyArc: config.policyArc, now: () => new Date() };
      const { publicKey, subject } = await readCsr(opensslCsr(files, 'host', { subject: '/CN=host/serialNumber=SE2321000016-F100', san: 'DNS:host.region.example' }));
      const issued = await issue(context, 'function-server', publicKey, subject);
      // The organisation's root is not ours to serve: the chain ends at the imported CA.
      assert.deepEqual(issued.chainPem, [ca.certificate.toString('pem')]);
      const cert = files.file('host.pem', issued.certificatePem);
      const untrusted = files.file('org-chain.pem', issued.chainPem.join(''));
      assert.match(openssl(['verify', '-CAfile', files.path('org-root.pem'), '-untrusted', untrusted, cert]).output, /host\.pem: OK/);

      await revokeCertificate(db, { serial: issued.serial, reason: 'keyCompromise', actor: 'admin' }, new Date(), false);
      const crl = await writeCrl(ca, revokedEntries(db, 'function'), await nextCrlNumber(db, 'function'), new Date(Math.floor(Date.now() / 1000) * 1000), new Date(Date.now() + 86_400_000));
      const crlPem = `-----BEGIN X509 CRL-----\n${Buffer.from(crl.der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END X509 CRL-----\n`;
      const bundle = files.file('org-ca-crl.pem', `${files.read('org-root.pem')}${crlPem}`);
      const verdict = openssl(['verify', '-crl_check', '-CAfile', bundle, '-untrusted', untrusted, cert]).output;
      assert.match(verdict, /certificate revoked/);
    });

    it('refuses to replace a CA once it has issued', async () => {
      const before = await storedCa('function');
      assert.match(await refusal({ id: 'function', ...org }), /already issued 1 certificate\(s\)/);
      assert.deepEqual(await storedCa('function'), before);
    });
  });
}
