import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { AppRequestError, approveOrder, cardTlsCredentials, enrollWithCode, KeyStoreError, openKeyStore } from '../src/app/index.ts';
import { addCaller, authnFrom, createAuthnPart, DEMO_PIN, qrContent, type AuthnServices } from '../src/authn/index.ts';
import { createDirectoryPart, findPerson } from '../src/directory/index.ts';
import { createPkiPart, exportPkcs12, pkiFrom, type Pki } from '../src/pki/index.ts';
import { call } from './support/http.ts';
import { startTestSystem } from './support/system.ts';

const BIN = new URL('../bin/tillit.js', import.meta.url).pathname;

function tillit(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

/** A TLS server (Node's, not ours) that asks for a client certificate from this installation's root and reports whom it got. */
async function clientCertificateEcho(root: string, server: { cert: string; key: string }) {
  const https = createServer({ ...server, ca: root, requestCert: true, rejectUnauthorized: true }, (request, response) => {
    const peer = (request.socket as TLSSocket).getPeerX509Certificate();
    response.end(JSON.stringify({ subject: peer?.subject ?? null, issuer: peer?.issuer ?? null }));
  });
  https.listen(0, '127.0.0.1');
  await once(https, 'listening');
  return { url: `https://127.0.0.1:${(https.address() as AddressInfo).port}/`, close: () => new Promise((r) => https.close(r)) };
}

/** The whole chain on disk: PKI, directory and authentication parts, demo region seeded into a real data folder. */
describe('mobile eID enrolment, cards and demo eIDs through the running system', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let dataDir: string;
  let pki: Pki;
  let authn: AuthnServices;
  let authorization: string;
  let caFile: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'tillit-enrol-system-'));
    system = await startTestSystem({ dataDir, demo: { seed: true }, directory: { demo: { persons: 30 } } }, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
    const started = new Map(system.parts.map((p) => [p.name, p]));
    pki = pkiFrom(started);
    authn = authnFrom(started);
    const { secret } = await addCaller(system.db, 'idp.enrol', 'Enrolment test');
    authorization = `Basic ${Buffer.from(`idp.enrol:${secret}`).toString('base64')}`;
    caFile = join(dataDir, 'server-ca-for-test.pem');
    await writeFile(caFile, system.tls.ca);
  });
  let stopped = false;
  after(async () => {
    if (!stopped) await system?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const rp = async (path: string, body: unknown) => JSON.parse((await call(`${system.httpsUrl}${path}`, { method: 'POST', ca: system.tls.ca, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) })).body);
  const server = () => ({ baseUrl: system.httpsUrl, ca: system.tls.ca });
  const demoHomes = () => system.demoLines.flatMap((line) => [...line.matchAll(/app home (\S+)/g)].map((m) => m[1]!));

  it('seeds demo persons with an enrolled mobile eID and a card, and prints how to log in with them', async () => {
    const text = system.demoLines.join('\n');
    assert.match(text, new RegExp(`Demo eIDs \\(PIN ${DEMO_PIN}`));
    assert.match(text, /npx tillit app approve --home \S+ --pin 123456 --autostart-token/);
    const homes = demoHomes();
    assert.equal(homes.length, 2);
    for (const home of homes) {
      assert.ok(existsSync(join(home, 'card-auth.p12')) && existsSync(join(home, 'card-sign.p12')));
      const listed = await tillit(['app', 'list', '--home', home, '--json'], { TILLIT_DATA_DIR: dataDir });
      assert.equal(listed.code, 0, listed.stderr);
      const { credentials } = JSON.parse(listed.stdout) as { credentials: { kind: string; uses: string[]; enrolled: boolean }[] };
      assert.deepEqual(credentials.map((c) => `${c.kind}:${c.uses.join('+')}:${c.enrolled}`).sort(), ['card:auth:true', 'card:sign:true', 'mobile:auth+sign:true']);
    }
    // The card files open with OpenSSL under the printed PIN, and hold the authentication certificate.
    const pem = execFileSync('openssl', ['pkcs12', '-in', join(homes[0]!, 'card-auth.p12'), '-passin', `pass:${DEMO_PIN}`, '-nokeys', '-clcerts'], { encoding: 'utf8' });
    assert.match(pem, /subject=.*serialNumber ?= ?SE\d{10}-/);
  });

  it('logs a demo person in with the seeded mobile eID, by the same-device link', async () => {
    const home = demoHomes()[0]!;
    const pnr = home.split('/').at(-1)!;
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' });
    const link = `tillit-eid:///?autostarttoken=${started.autoStartToken}&redirect=%2F`;
    const run = await tillit(['app', 'approve', '--home', home, '--pin', DEMO_PIN, '--autostart-token', link, '--server', system.httpsUrl, '--ca', caFile, '--json'], { TILLIT_DATA_DIR: join(dataDir, 'elsewhere') });
    assert.equal(run.code, 0, run.stderr);
    const collected = await rp('/authn/v1/collect', { orderRef: started.orderRef });
    assert.equal(collected.status, 'complete', JSON.stringify(collected));
    assert.equal(collected.completionData.user.personalIdentityNumber, pnr);
  });

  it('hands a demo card to a TLS client: curl logs in to Node’s TLS server with its authentication certificate', async () => {
    const home = demoHomes()[1]!;
    const keys = await openKeyStore(home);
    const card = await cardTlsCredentials(keys, DEMO_PIN);
    const root = pki.caCertificate('root')!.certificate.toString('pem');
    const tls = await pki.serverTls(['localhost', '127.0.0.1']);
    const echo = await clientCertificateEcho(root, { cert: [tls.cert, ...tls.chain].join('\n'), key: tls.key });
    const rootFile = join(dataDir, 'root-for-curl.pem');
    const certFile = join(dataDir, 'card-for-curl.pem');
    const keyFile = join(dataDir, 'card-for-curl.key');
    await writeFile(rootFile, root);
    await writeFile(certFile, card.cert);
    await writeFile(keyFile, card.key, { mode: 0o600 });
    const curl = promisify(execFile);
    try {
      const { stdout } = await curl('curl', ['-sS', '--fail', '--cacert', rootFile, '--cert', certFile, '--key', keyFile, echo.url]);
      const peer = JSON.parse(stdout) as { subject: string; issuer: string };
      assert.match(peer.subject, /serialNumber=SE\d{10}-/);
      assert.match(peer.issuer, /HSA/i);
      await assert.rejects(curl('curl', ['-sS', '--fail', '--cacert', rootFile, echo.url]), 'no client certificate, no connection');
    } finally {
      await echo.close();
      await rm(keyFile);
    }
  });

  it('enrols with `tillit app enroll` and a code, then logs in with the new eID; the code works once', async () => {
    const [, pnr] = demoHomes()[0]!.match(/(\d{12})$/)!;
    const code = await authn.enrolment.createCode(pnr!, 'test operator');
    const home = join(dataDir, 'cli-app');
    const enrol = (codeText: string) => tillit(['app', 'enroll', '--code', codeText, '--pin', '864209', '--home', home, '--server', system.httpsUrl, '--ca', caFile, '--json'], { TILLIT_DATA_DIR: join(dataDir, 'elsewhere') });
    const run = await enrol(code.code);
    assert.equal(run.code, 0, run.stderr);
    const enrolled = JSON.parse(run.stdout) as { subject: string };
    assert.match(enrolled.subject, new RegExp(`serialNumber=${pnr}`));
    const again = await enrol(code.qr);
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), 'tillit: the enrolment code has already been used: ask for a new code');
    const keys = await openKeyStore(home);
    assert.equal(keys.list().length, 1, 'the refused enrolment left no key behind');
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1', requirement: { personalIdentityNumber: pnr } });
    await approveOrder(server(), keys, { qr: qrContent(started.qrStartToken, started.qrStartSecret, 0) }, { pin: '864209' });
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.orderRef })).status, 'complete');
  });

  it('refuses a fourth active mobile eID over the app API with the reason, and issues nothing', async () => {
    const [, pnr] = demoHomes()[0]!.match(/(\d{12})$/)!;
    // The demo eID and the one from the previous test are two; one more is allowed.
    const codes = [await authn.enrolment.createCode(pnr!, 'test operator'), await authn.enrolment.createCode(pnr!, 'test operator')];
    const keys = await openKeyStore(join(dataDir, 'fourth'));
    await enrollWithCode(server(), keys, codes[0]!.code, '555111');
    await assert.rejects(enrollWithCode(server(), keys, codes[1]!.code, '555111'), (e: AppRequestError) => e.status === 409 && e.errorCode === 'tooManyEids' && /already has 3 active mobile eIDs/.test(e.message));
    assert.equal(keys.list().length, 1);
    assert.equal((await authn.enrolment.mobileEidsOf(pnr!)).length, 3);
    const bad = await call(`${system.httpsUrl}/app/v1/enrol`, { method: 'POST', ca: system.tls.ca, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'x', csr: 'y', extra: 1 }) });
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).details, /extra: not a known parameter/);
  });

  it('imports a card with `tillit app card import`, and three wrong PINs lock the card too', async () => {
    const person = await findPerson(system.db, demoHomes()[1]!.match(/(\d{12})$/)![1]!, { mayViewProtectedIdentities: true });
    const hsaId = person!.serviceIdentities[0]!.hsaId;
    const subject = { commonName: `${person!.givenName} ${person!.surname}`, givenName: person!.givenName, surname: person!.surname, serialNumber: hsaId };
    const files: string[] = [];
    for (const profile of ['person-auth-hsa-loa3', 'person-sign-hsa-loa3'] as const) {
      const issued = await pki.issueWithNewKey(profile, subject);
      const p12 = await exportPkcs12({ privateKey: createPrivateKey(issued.privateKeyPem), certificates: [issued.certificatePem, ...issued.chainPem].map((p) => new Uint8Array(new X509Certificate(p).raw)), password: 'kortlösen' });
      files.push(join(dataDir, `${profile}.p12`));
      await writeFile(files.at(-1)!, p12);
    }
    const home = join(dataDir, 'card-app');
    const run = await tillit(['app', 'card', 'import', '--p12', ...files, '--pin', '909090', '--p12-password-env', 'CARD_PASSWORD', '--home', home, '--json'], { CARD_PASSWORD: 'kortlösen', TILLIT_DATA_DIR: join(dataDir, 'elsewhere') });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((JSON.parse(run.stdout) as { credentials: { uses: string[] }[] }).credentials.map((c) => c.uses.join('+')), ['auth', 'sign']);
    const wrongPassword = await tillit(['app', 'card', 'import', '--p12', files[0]!, '--pin', '909090', '--home', home], { TILLIT_DATA_DIR: join(dataDir, 'elsewhere') });
    assert.equal(wrongPassword.code, 1);
    assert.match(wrongPassword.stderr, /^tillit: the PKCS#12 file cannot be opened: not PKCS#12, damaged, or a wrong password\n$/);

    const keys = await openKeyStore(home);
    assert.match((await cardTlsCredentials(keys, '909090')).cert, /BEGIN CERTIFICATE[\s\S]+BEGIN CERTIFICATE/, 'the certificate and its issuing CA');
    await assert.rejects(cardTlsCredentials(keys, '000001'), (e: KeyStoreError) => e.code === 'wrongPin' && e.attemptsLeft === 2);
    await assert.rejects(cardTlsCredentials(keys, '000002'), (e: KeyStoreError) => e.code === 'wrongPin' && e.attemptsLeft === 1);
    await assert.rejects(cardTlsCredentials(keys, '000003'), (e: KeyStoreError) => e.code === 'locked');
    await assert.rejects(cardTlsCredentials(keys, '909090'), (e: KeyStoreError) => e.code === 'locked', 'the right PIN no longer opens it');
    const listed = await tillit(['app', 'list', '--home', home], { TILLIT_DATA_DIR: join(dataDir, 'elsewhere') });
    assert.match(listed.stdout, /card \(auth\)[^\n]*LOCKED/);
  });

  it('tells the caller `started` when the app opens without an eID, and leaves the order open', async () => {
    const keys = await openKeyStore(join(dataDir, 'empty-app'));
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.1' });
    await assert.rejects(approveOrder(server(), keys, { autoStartToken: started.autoStartToken }, { pin: '123456' }), (e: AppRequestError) => e.errorCode === 'noCredential');
    assert.deepEqual(await rp('/authn/v1/collect', { orderRef: started.orderRef }), { orderRef: started.orderRef, status: 'pending', hintCode: 'started' });
    await approveOrder(server(), await openKeyStore(demoHomes()[1]!), { autoStartToken: started.autoStartToken }, { pin: DEMO_PIN });
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.orderRef })).status, 'complete');
  });

  it('prints an enrolment code and its QR text with `tillit app enrolment-code` (operators, demo)', async () => {
    await system.stop();
    stopped = true;
    const pnr = demoHomes()[1]!.match(/(\d{12})$/)![1]!;
    const run = await tillit(['app', 'enrolment-code', '--person', pnr], { TILLIT_DATA_DIR: dataDir, TILLIT_LOG__LEVEL: 'warn' });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^enrolment code for ${pnr}: ([0-9A-Z]{4}-){3}[0-9A-Z]{4}\\nQR content: tillit-enrol\\.[0-9A-Z]{16}\\n`));
    const unknown = await tillit(['app', 'enrolment-code', '--person', '191212121212'], { TILLIT_DATA_DIR: dataDir });
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'tillit: the directory knows no person with personnummer 191212121212\n');
    assert.ok((await readFile(join(dataDir, 'pki', 'passphrase'), 'utf8')).length > 0);
  });
});
