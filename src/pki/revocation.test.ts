import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseTargets } from '../../test/support/stores.ts';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { loadConfig } from '../config/index.ts';
import type { Database } from '../store/index.ts';
import { nextCrlNumber, revokedEntries, writeCrl } from './crl.ts';
import { ensureHierarchy, type CaId, type LoadedCa } from './hierarchy.ts';
import { issue, readCsr, type IssuerContext } from './issue.ts';
import { certificateStatus, releaseHold, revokeCertificate, RevocationRefused } from './revoke.ts';

const PLAIN = 'http://pki.test:8080';
const config = loadConfig({ overrides: { dataDir: 'memory://' } }).pki;

for (const target of databaseTargets()) {
  describe(`revocation and CRLs (${target.name})`, () => {
    let db: Database;
    let cas: Map<CaId, LoadedCa>;
    let context: IssuerContext;
    const files = scratch();
    const now = new Date();

    before(async () => {
      db = await target.open();
      cas = await ensureHierarchy(db, config, PLAIN, 'test passphrase 0123456789', now);
      context = { db, cas, plainBaseUrl: PLAIN, policyArc: config.policyArc, now: () => new Date() };
      files.file('root.pem', cas.get('root')!.certificate.toString('pem'));
    });
    after(async () => {
      files.done();
      await db.close();
    });

    const issueFunction = async (name: string) => {
      const { publicKey, subject } = await readCsr(opensslCsr(files, name, { subject: `/CN=${name}/serialNumber=SE2321000016-${name.toUpperCase()}`, san: `DNS:${name}.region.example` }));
      return issue(context, 'function-server', publicKey, subject);
    };

    const publishCrl = async (caId: CaId) => {
      const ca = cas.get(caId)!;
      const crl = await writeCrl(ca, revokedEntries(db, caId), await nextCrlNumber(db, caId), new Date(Math.floor(Date.now() / 1000) * 1000), new Date(Date.now() + 86_400_000));
      return { crl, file: files.file(`${caId}.crl`, crl.der) };
    };

    it('revokes with reason and invalidity date, idempotently, and OpenSSL rejects the certificate against the CRL', async () => {
      const good = await issueFunction('good');
      const bad = await issueFunction('bad');
      const received = new Date(Date.now() - 3 * 86_400_000);
      const first = await revokeCertificate(db, { serial: bad.serial, reason: 'keyCompromise', invalidityDate: received, actor: 'admin-1' }, new Date(), false);
      assert.equal(first.changed, true);
      assert.equal(first.status.status, 'revoked');
      const again = await revokeCertificate(db, { serial: bad.serial.toUpperCase(), reason: 'superseded', actor: 'admin-2' }, new Date(), false);
      assert.equal(again.changed, false);
      assert.equal(again.status.reason, 'keyCompromise', 'a second request does not rewrite the first');

      const { crl, file } = await publishCrl('function');
      assert.equal(crl.entries, 1);
      const text = openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-text']).output;
      assert.match(text, /Version 2/);
      assert.match(text, new RegExp(`Serial Number: ${bad.serial.toUpperCase()}`));
      assert.match(text, /Key Compromise/);
      assert.match(text, /Invalidity Date:/);
      assert.match(text, /X509v3 CRL Number:\s+\d+/);
      assert.match(text, /X509v3 Authority Key Identifier/);
      const pemCrl = files.file('function-crl.pem', openssl(['crl', '-inform', 'DER', '-in', file]).output);
      const rootCrl = files.file('root-crl.pem', openssl(['crl', '-inform', 'DER', '-in', (await publishCrl('root')).file]).output);
      const chain = files.file('function-ca.pem', cas.get('function')!.certificate.toString('pem'));
      const verify = (cert: string) =>
        openssl(['verify', '-crl_check_all', '-CAfile', files.path('root.pem'), '-untrusted', chain, '-CRLfile', pemCrl, '-CRLfile', rootCrl, files.file('leaf.pem', cert)]);
      assert.equal(verify(good.certificatePem).ok, true, verify(good.certificatePem).output);
      const refused = verify(bad.certificatePem);
      assert.equal(refused.ok, false);
      assert.match(refused.output, /certificate revoked/);
      assert.match(openssl(['crl', '-inform', 'DER', '-in', file, '-noout', '-CAfile', chain]).output, /verify OK/);
    });

    it('keeps CRL numbers growing and writes an empty CRL that OpenSSL accepts', async () => {
      const a = await publishCrl('mobile');
      const b = await publishCrl('mobile');
      assert.ok(b.crl.number > a.crl.number);
      assert.equal(b.crl.entries, 0);
      const caFile = files.file('mobile-ca.pem', cas.get('mobile')!.certificate.toString('pem'));
      assert.match(openssl(['crl', '-inform', 'DER', '-in', b.file, '-noout', '-CAfile', caFile]).output, /verify OK/);
    });

    it('refuses bad revocation requests with the reason', async () => {
      const cert = await issueFunction('target');
      await assert.rejects(revokeCertificate(db, { serial: 'zz-top', reason: 'keyCompromise', actor: 'a' }, new Date(), false), /is not a certificate serial number/);
      await assert.rejects(revokeCertificate(db, { serial: 'abcdef0123', reason: 'keyCompromise', actor: 'a' }, new Date(), false), /no certificate with serial abcdef0123/);
      await assert.rejects(revokeCertificate(db, { serial: cert.serial, reason: 'lost' as 'keyCompromise', actor: 'a' }, new Date(), false), /unknown reason "lost"/);
      await assert.rejects(revokeCertificate(db, { serial: cert.serial, reason: 'keyCompromise', invalidityDate: new Date(Date.now() + 3_600_000), actor: 'a' }, new Date(), false), /not in the future/);
      await assert.rejects(revokeCertificate(db, { serial: cert.serial, reason: 'certificateHold', actor: 'a' }, new Date(), false), RevocationRefused);
      assert.equal((await certificateStatus(db, cert.serial))!.status, 'good');
    });

    it('can hold and release only where holds are enabled; a final revocation is never undone', async () => {
      const cert = await issueFunction('held');
      await revokeCertificate(db, { serial: cert.serial, reason: 'certificateHold', actor: 'a' }, new Date(), true);
      assert.equal((await certificateStatus(db, cert.serial))!.status, 'on-hold');
      assert.equal((await releaseHold(db, cert.serial, 'a')).status, 'good');
      await revokeCertificate(db, { serial: cert.serial, reason: 'certificateHold', actor: 'a' }, new Date(), true);
      const final = await revokeCertificate(db, { serial: cert.serial, reason: 'cessationOfOperation', actor: 'a' }, new Date(), true);
      assert.equal(final.status.status, 'revoked');
      await assert.rejects(releaseHold(db, cert.serial, 'a'), /revoked for good/);
      const events = await db.query<{ action: string; actor: string }>('select action, actor from pki_events where serial = $1 order by id', [cert.serial]);
      assert.deepEqual(events.map((e) => e.action), ['revoked', 'hold-released', 'revoked', 'revoked']);
    });
  });
}
