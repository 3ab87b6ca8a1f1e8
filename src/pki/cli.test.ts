import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { openssl, opensslCsr, scratch } from '../../test/support/openssl.ts';
import { openDatabase } from '../store/index.ts';

const BIN = new URL('../../bin/tillit.js', import.meta.url).pathname;

/** The real `tillit` command with only the environment given (plus PATH). */
function tillit(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('tillit pki: issue, revoke, status, release, PKCS#12 out and bring your own CA', () => {
  const files = scratch();
  const env = { TILLIT_DATA_DIR: files.path('data') };
  after(() => files.done());

  /** Counts the certificates in the CLI's own embedded database (opened between commands, never beside one). */
  const certificatesStored = async () => {
    const db = await openDatabase({ dataDir: files.path('data'), database: { poolSize: 1 } });
    try {
      return Number((await db.query<{ n: string }>('select count(*) as n from pki_certificates'))[0]!.n);
    } finally {
      await db.close();
    }
  };

  it('issues a test card as PKCS#12 that OpenSSL opens with the password printed once', async () => {
    const subject = files.file('subject.json', JSON.stringify({ commonName: 'Testkort 2', serialNumber: '191212121212' }));
    const card = await tillit(['pki', 'issue', '--profile', 'test', '--subject-json', subject, '--p12', files.path('card.p12')], env);
    assert.equal(card.code, 0, card.stderr);
    const password = /PKCS#12 password \(shown once\): (\S+)/.exec(card.stdout)?.[1];
    assert.ok(password, card.stdout);
    assert.equal(statSync(files.path('card.p12')).mode & 0o777, 0o600);
    const opened = openssl(['pkcs12', '-in', files.path('card.p12'), '-passin', `pass:${password}`, '-nodes']);
    assert.ok(opened.ok, opened.output);
    assert.equal(opened.output.match(/-----BEGIN CERTIFICATE-----/g)?.length, 3, 'card, test CA, test root');
    assert.match(opened.output, /subject=.*serialNumber ?= ?191212121212/);
    assert.equal(openssl(['pkcs12', '-in', files.path('card.p12'), '-passin', 'pass:guess', '-nodes']).ok, false);

    const usage = await tillit(['pki', 'issue', '--profile', 'test', '--subject-json', subject], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /needs --key-out or --p12/);
  });

  it('issues from a CSR as PEM, revokes saying who, shows status, holds and releases only where allowed, and refuses bad files with one line', async () => {
    const csr = files.file('host.csr', opensslCsr(files, 'host', { subject: '/CN=journal.region.example/serialNumber=SE2321000016-F010', san: 'DNS:journal.region.example' }));
    const issued = await tillit(['pki', 'issue', '--profile', 'function-server', '--csr', csr, '--json'], env);
    assert.equal(issued.code, 0, issued.stderr);
    const { serial, pem } = JSON.parse(issued.stdout) as { serial: string; pem: string };
    const chain = files.file('host-chain.pem', pem);
    assert.match(openssl(['x509', '-in', chain, '-noout', '-subject']).output, /CN ?= ?journal\.region\.example/);

    const revoked = await tillit(['pki', 'revoke', '--serial', serial, '--reason', 'keyCompromise', '--invalidity-date', '2026-01-02T03:04:05Z', '--actor', 'admin-anna'], env);
    assert.equal(revoked.stdout, `revoked ${serial} (keyCompromise)\n`);
    const status = JSON.parse((await tillit(['pki', 'status', '--serial', serial, '--json'], env)).stdout) as Record<string, string>;
    assert.equal(status['status'], 'revoked');
    assert.equal(status['revokedBy'], 'admin-anna');
    assert.equal(status['invalidityDate'], '2026-01-02T03:04:05.000Z');
    assert.match(status['revokedAt']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/, 'whole seconds');
    const again = await tillit(['pki', 'revoke', '--serial', serial, '--reason', 'superseded', '--actor', 'admin-bo'], env);
    assert.equal(again.stdout, `${serial} was already revoked (keyCompromise); nothing changed (registered by admin-anna)\n`);
    const release = await tillit(['pki', 'release', '--serial', serial], env);
    assert.equal(release.stderr, 'tillit: certificateHold is not enabled in this deployment (pki.allowCertificateHold), so there is no hold to release\n');

    const held = JSON.parse((await tillit(['pki', 'issue', '--profile', 'function-server', '--csr', csr, '--json'], env)).stdout) as { serial: string };
    const withHolds = { ...env, TILLIT_PKI__ALLOW_CERTIFICATE_HOLD: 'true' };
    assert.equal((await tillit(['pki', 'revoke', '--serial', held.serial, '--reason', 'certificateHold'], env)).stderr, 'tillit: certificateHold is not enabled in this deployment (pki.allowCertificateHold)\n');
    assert.equal((await tillit(['pki', 'revoke', '--serial', held.serial, '--reason', 'certificateHold', '--actor', 'admin-anna'], withHolds)).code, 0);
    assert.equal((await tillit(['pki', 'release', '--serial', held.serial, '--actor', 'admin-bo'], withHolds)).stdout, `released the hold on ${held.serial}; it is good again\n`);

    const before = await certificatesStored();
    assert.ok(before >= 2, 'the CLI’s database, with the certificates issued above');
    const refusals: [string[], RegExp][] = [
      [['--csr', files.file('garbage.csr', 'not a request')], /^tillit: the CSR cannot be read: .*\n$/],
      [['--csr', files.file('half.csr', files.read('host.csr').subarray(0, 300))], /^tillit: the CSR cannot be read: .*\n$/],
      [['--csr', files.file('huge.csr', Buffer.alloc(70_000, 0x41))], /^tillit: CSR file .* is larger than 64 KiB\n$/],
      [['--csr', files.path('missing.csr')], /^tillit: CSR file .* cannot be read: ENOENT\n$/],
      [['--subject-json', files.file('bad.json', '{"commonName": '), '--key-out', files.path('x.key')], /^tillit: subject file .* is not valid JSON: .*\n$/],
    ];
    for (const [args, message] of refusals) {
      const refused = await tillit(['pki', 'issue', '--profile', 'function-server', ...args], env);
      assert.equal(refused.code, 1, args.join(' '));
      assert.match(refused.stderr, message);
    }
    assert.equal(await certificatesStored(), before, 'nothing stored for a refused request');
  });

  it('imports an organisation’s CA from PEM files or PKCS#12, refusing a key that does not fit or a wrong password with one line', async () => {
    const run = (args: string[]) => assert.ok(openssl(args).ok, args.join(' '));
    run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.path('org.key'), '-out', files.path('org.pem'), '-subj', '/C=SE/O=Region Syd/CN=Region Syd Mobile CA', '-days', '365', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files.path('other.key')]);
    const refused = await tillit(['pki', 'ca', 'import', '--ca', 'mobile', '--cert', files.path('org.pem'), '--key', files.path('other.key')], env);
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, 'tillit: the private key does not belong to the certificate\n');

    const imported = await tillit(['pki', 'ca', 'import', '--ca', 'mobile', '--cert', files.path('org.pem'), '--key', files.path('org.key'), '--json'], env);
    assert.equal(imported.code, 0, imported.stderr);
    assert.deepEqual(JSON.parse(imported.stdout), { id: 'mobile', subject: 'C=SE, O=Region Syd, CN=Region Syd Mobile CA', algorithm: 'ecdsa-p256' });
    const listed = JSON.parse((await tillit(['pki', 'ca', 'list', '--json'], env)).stdout) as { id: string; subject: string }[];
    assert.equal(listed.find((ca) => ca.id === 'mobile')?.subject, 'C=SE, O=Region Syd, CN=Region Syd Mobile CA');

    run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.path('org2.key'), '-out', files.path('org2.pem'), '-subj', '/C=SE/O=Region Syd/CN=Region Syd HSA LoA2 CA', '-days', '365', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    run(['pkcs12', '-export', '-in', files.path('org2.pem'), '-inkey', files.path('org2.key'), '-out', files.path('org2.p12'), '-passout', 'pass:p12 secret']);
    const wrong = await tillit(['pki', 'ca', 'import', '--ca', 'person-hsa-loa2', '--p12', files.path('org2.p12'), '--p12-password-env', 'P12_PASSWORD'], { ...env, P12_PASSWORD: 'guess' });
    assert.equal(wrong.stderr, 'tillit: the PKCS#12 file cannot be opened: not PKCS#12, damaged, or a wrong password\n');
    const fromP12 = await tillit(['pki', 'ca', 'import', '--ca', 'person-hsa-loa2', '--p12', files.path('org2.p12'), '--p12-password-env', 'P12_PASSWORD', '--json'], { ...env, P12_PASSWORD: 'p12 secret' });
    assert.equal(fromP12.code, 0, fromP12.stderr);
    assert.deepEqual(JSON.parse(fromP12.stdout), { id: 'person-hsa-loa2', subject: 'C=SE, O=Region Syd, CN=Region Syd HSA LoA2 CA', algorithm: 'rsa-2048' });
  });
});
