import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { openssl, scratch } from '../../test/support/openssl.ts';

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

describe('tillit pki: PKCS#12 out and bring your own CA', () => {
  const files = scratch();
  const env = { TILLIT_DATA_DIR: files.path('data') };
  after(() => files.done());

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
