import 'reflect-metadata';
import assert from 'node:assert/strict';
import { verify, webcrypto, X509Certificate, createPrivateKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { approveOrder, AppRequestError, openKeyStore, type KeyStore } from '../src/app/index.ts';
import { addCaller, authnRoutes, createOrderService, qrContent, type AnswerVerifier } from '../src/authn/index.ts';
import type { PartFactory } from '../src/server/index.ts';
import { call } from './support/http.ts';
import { startTestSystem } from './support/system.ts';

/** Checks the signature with the key in the presented certificate (chain and revocation are the PKI's, tested there). */
const certificateKeyVerifier: AnswerVerifier = async ({ challenge, answer }) => {
  const certificate = new X509Certificate(answer.certificatePem);
  if (!verify('sha256', challenge, certificate.publicKey, Buffer.from(answer.signature, 'base64'))) return { ok: false, hint: 'certificateErr', reason: 'signature does not verify' };
  return { ok: true, completion: { user: { personalIdentityNumber: certificate.subject.match(/serialNumber=(\d+)/)?.[1] ?? '' }, certificatePem: answer.certificatePem, signature: answer.signature, loa: 3, revocationEvidence: null } };
};

async function selfSignedFor(keys: KeyStore, pin: string): Promise<void> {
  const crypto = webcrypto as unknown as Crypto;
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const pair = (await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name: 'CN=Tolvan Tolvansson, 2.5.4.5=191212121212', notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), keys: pair, signingAlgorithm: algorithm }, crypto);
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  await keys.importKey('mobile', 'Mobilt eID', pin, createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }), cert.toString('pem'), []);
}

describe('the eID app against the authentication service', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let home: string;
  let keys: KeyStore;
  let authorization: string;
  const PIN = '246810';

  before(async () => {
    // QR codes may be a minute old here: the command-line app takes seconds to start on a busy machine, and staleness is tested elsewhere.
    let secretReady: (secret: string) => void;
    const secret = new Promise<string>((resolve) => (secretReady = resolve));
    const authnPart: PartFactory = async (context) => {
      const { secret: s } = await addCaller(context.db, 'idp.test', 'Testtjänsten');
      secretReady(s);
      return {
        name: 'authn',
        title: { sv: 'Autentisering', en: 'Authentication' },
        description: { sv: '', en: '' },
        links: [],
        https: authnRoutes({ db: context.db, orders: createOrderService({ store: context.ephemeral, verifyAnswer: certificateKeyVerifier, qrMaxAgeSeconds: 60 }) }),
      };
    };
    system = await startTestSystem({}, new Map([['authn', authnPart]]));
    authorization = `Basic ${Buffer.from(`idp.test:${await secret}`).toString('base64')}`;
    home = await mkdtemp(join(tmpdir(), 'tillit-app-home-'));
    keys = await openKeyStore(home);
    await selfSignedFor(keys, PIN);
  });
  after(async () => {
    await system.stop();
    await rm(home, { recursive: true, force: true });
  });

  const rp = async (path: string, body: unknown) => {
    const answer = await call(`${system.httpsUrl}${path}`, { method: 'POST', ca: system.tls.ca, headers: { authorization, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: answer.status, json: JSON.parse(answer.body) };
  };
  const server = () => ({ baseUrl: system.httpsUrl, ca: system.tls.ca });

  it('logs in on another device: the app scans the QR code and the caller collects the person', async () => {
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.7', userVisibleText: 'Logga in i Testtjänsten' });
    assert.equal(started.status, 200);
    const { challenge, outcome } = await approveOrder(server(), keys, { qr: qrContent(started.json.qrStartToken, started.json.qrStartSecret, 0) }, { pin: PIN });
    assert.equal(challenge.requesterName, 'Testtjänsten');
    assert.equal(challenge.userVisibleText, 'Logga in i Testtjänsten');
    assert.deepEqual(outcome, { status: 'complete' });
    const collected = await rp('/authn/v1/collect', { orderRef: started.json.orderRef });
    assert.equal(collected.json.status, 'complete');
    assert.equal(collected.json.completionData.user.personalIdentityNumber, '191212121212');
  });

  it('signs on this device with the auto-start token', async () => {
    const started = await rp('/authn/v1/sign', { endUserIp: '192.0.2.7', userVisibleText: 'Jag intygar att uppgifterna är riktiga' });
    const { challenge } = await approveOrder(server(), keys, { autoStartToken: started.json.autoStartToken }, { pin: PIN });
    assert.equal(challenge.kind, 'sign');
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.json.orderRef })).json.status, 'complete');
  });

  it('does not use up the order on a wrong PIN, so the right PIN still completes it', async () => {
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.7' });
    await assert.rejects(approveOrder(server(), keys, { autoStartToken: started.json.autoStartToken }, { pin: '000000' }), /wrong PIN: 2 attempts left/);
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.json.orderRef })).json.hintCode, 'outstandingTransaction');
    await approveOrder(server(), keys, { autoStartToken: started.json.autoStartToken }, { pin: PIN });
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.json.orderRef })).json.status, 'complete');
  });

  it('reports a decline as userCancel and a second claim as already in progress', async () => {
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.7' });
    const qr = qrContent(started.json.qrStartToken, started.json.qrStartSecret, 0);
    await approveOrder(server(), keys, { qr }, { pin: PIN, decline: true });
    assert.deepEqual((await rp('/authn/v1/collect', { orderRef: started.json.orderRef })).json, { orderRef: started.json.orderRef, status: 'failed', hintCode: 'userCancel' });
    await assert.rejects(approveOrder(server(), keys, { qr }, { pin: PIN }), (error: AppRequestError) => error.status === 404 && error.errorCode === 'notFound');
  });

  it('approves from the command line: tillit app approve --qr … --pin …', async () => {
    const caFile = join(home, 'server.crt');
    await writeFile(caFile, system.tls.ca);
    const started = await rp('/authn/v1/auth', { endUserIp: '192.0.2.7', userVisibleText: 'Logga in' });
    const bin = new URL('../bin/tillit.js', import.meta.url).pathname;
    const run = promisify(execFile);
    const args = ['app', 'approve', '--qr', qrContent(started.json.qrStartToken, started.json.qrStartSecret, 0), '--pin', PIN, '--home', home, '--server', system.httpsUrl, '--ca', caFile, '--json'];
    const { stdout } = await run(process.execPath, [bin, ...args]);
    assert.deepEqual(JSON.parse(stdout), { requester: 'Testtjänsten', kind: 'auth', text: 'Logga in', outcome: { status: 'complete' } });
    assert.equal((await rp('/authn/v1/collect', { orderRef: started.json.orderRef })).json.status, 'complete');
    const listed = JSON.parse((await run(process.execPath, [bin, 'app', 'list', '--home', home, '--json'])).stdout);
    assert.equal(listed.locked, false);
    assert.equal(listed.credentials.length, 1);
    assert.equal(listed.credentials[0].enrolled, true);
  });
});
