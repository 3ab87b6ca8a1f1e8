import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:net';
import pino from 'pino';
import type { Browser } from 'playwright-core';
import { browserUnavailable, launchChromium } from '../../test/support/browser.ts';
import { startLoopbackProxy } from '../../test/support/loopback-proxy.ts';
import { postJson } from '../app/index.ts';
import { loadConfig } from '../config/index.ts';
import { pkiFrom, type Pki } from '../pki/index.ts';
import { startSystem, type RunningSystem } from '../system/index.ts';
import type { Challenge } from './index.ts';

const SCREENSHOTS = new URL('../../.tmp/screenshots/', import.meta.url).pathname;
const DAY = 86_400_000;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe('the public “test your eID” page in Chromium', { skip: browserUnavailable() }, () => {
  let system: RunningSystem;
  let browser: Browser;
  let proxy: Awaited<ReturnType<typeof startLoopbackProxy>>;
  let pki: Pki;
  let base: string;
  let offset = 0;
  let person: { hsaId: string; personnummer: string; givenName: string; surname: string };

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const config = loadConfig({
      env: {},
      overrides: {
        dataDir: 'memory://',
        server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base },
        authn: { mtls: { port: 0 }, callerMtls: { port: 0 } },
        parts: ['pki', 'directory', 'authn'],
        directory: { demo: { persons: 20 } },
        log: { level: 'silent' },
      },
    });
    system = await startSystem(config, { log: pino({ level: process.env['TEST_LOG'] ?? 'silent' }), now: () => new Date(Date.now() + offset) });
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    const [row] = await system.db.query<typeof person>(
      `select s.hsa_id as "hsaId", p.personnummer, p.given_name as "givenName", p.surname
         from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
         join directory_commission c on c.service_identity_hsa_id = s.hsa_id and c.valid_to is null
        group by s.hsa_id, p.personnummer, p.given_name, p.surname order by count(*) desc, s.hsa_id limit 1`,
    );
    person = row!;
    proxy = await startLoopbackProxy();
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await proxy?.close();
    await system?.stop();
  });

  const subject = () => ({ commonName: `${person.givenName} ${person.surname}`, givenName: person.givenName, surname: person.surname });

  it('app login (sv): QR page, the app answers, then certificate, revocation, LoA and the directory’s commissions', async () => {
    const mobile = await pki.issueWithNewKey('mobile', { ...subject(), serialNumber: person.personnummer });
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' })).newPage();
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    await page.goto(`${base}/authn/test`);
    assert.equal(await page.locator('h1').textContent(), 'Testa din e-legitimation');
    await page.screenshot({ path: `${SCREENSHOTS}eid-test-start-sv-SE.png`, fullPage: true });
    await page.getByRole('button', { name: 'Testa appen' }).click();
    await page.waitForURL(/\/authn\/test\/app$/);
    const first = await page.getAttribute('#tillit-qr', 'src');
    await page.waitForFunction((src) => document.querySelector('#tillit-qr')?.getAttribute('src') !== src, first);
    await page.screenshot({ path: `${SCREENSHOTS}eid-test-qr-sv-SE.png`, fullPage: true });
    // The eID app on this device: claim with the auto-start token, sign the challenge with the mobile eID's key.
    const token = new URL((await page.getAttribute('a[href^="tillit-eid:"]', 'href'))!).searchParams.get('autostarttoken');
    const server = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(server, 'app/v1/claim', { autoStartToken: token })) as Challenge;
    const signature = sign('sha256', Buffer.from(challenge.toSign, 'base64'), mobile.privateKeyPem).toString('base64');
    await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, signature, certificate: mobile.certificatePem });
    await page.waitForSelector('#tillit-eid-works');
    assert.equal(await page.locator('#tillit-eid-loa').textContent(), 'LoA 3');
    assert.match((await page.locator('#tillit-eid-revocation').textContent()) ?? '', /Inte spärrat/);
    assert.match((await page.locator('#tillit-eid-person').textContent()) ?? '', new RegExp(person.personnummer));
    assert.ok((await page.locator('#tillit-eid-commissions li').count()) >= 1);
    assert.equal(await page.isVisible('#tillit-eid-expires-soon'), false, 'two years left is not close');
    await page.screenshot({ path: `${SCREENSHOTS}eid-test-app-result-sv-SE.png`, fullPage: true });
    assert.deepEqual(problems, [], 'no console errors (CSP violations show up here)');
  });

  it('card login (en): a card about to expire is highlighted; a revoked card gets the advice and a new attempt', async () => {
    const card = await pki.issueWithNewKey('person-auth-hsa-loa3', { ...subject(), serialNumber: person.hsaId });
    const revoked = await pki.issueWithNewKey('person-auth-hsa-loa3', { ...subject(), serialNumber: person.hsaId });
    await pki.revoke({ serial: revoked.serial, reason: 'cessationOfOperation', actor: 'test' });
    const port = Number(new URL((await firstRollingUrl()).href).port);
    const context = await browser.newContext({
      ignoreHTTPSErrors: true,
      locale: 'en-GB',
      proxy: { server: proxy.url },
      clientCertificates: [
        { origin: `https://mtls-1.localhost:${port}`, cert: Buffer.from(revoked.certificatePem), key: Buffer.from(revoked.privateKeyPem) },
        { origin: `https://mtls-2.localhost:${port}`, cert: Buffer.from(card.certificatePem), key: Buffer.from(card.privateKeyPem) },
      ],
    });
    const page = await context.newPage();
    // Ten days before the card expires.
    offset = new Date(card.certificate.notAfter).getTime() - Date.now() - 10 * DAY;
    try {
      await page.goto(`${base}/authn/test?lang=en`);
      await page.getByRole('link', { name: 'Test the card' }).click();
      await page.waitForSelector('#tillit-card-refusal');
      assert.equal(await page.getAttribute('#tillit-card-refusal', 'data-code'), 'revoked');
      await page.screenshot({ path: `${SCREENSHOTS}eid-test-card-revoked-en-GB.png`, fullPage: true });
      await page.locator('#tillit-card-retry').click();
      await page.waitForSelector('#tillit-eid-works');
      assert.match((await page.locator('#tillit-eid-expires-soon').textContent()) ?? '', /expires in (9|10) days/);
      assert.equal(await page.locator('#tillit-eid-loa').textContent(), 'LoA 3');
      assert.ok((await page.locator('#tillit-eid-commissions li').count()) >= 1);
      await page.screenshot({ path: `${SCREENSHOTS}eid-test-card-result-en-GB.png`, fullPage: true });
    } finally {
      offset = 0;
    }
    await context.close();
  });

  /** Where the start page sends a browser on its first attempt (to learn the listener's port). */
  async function firstRollingUrl(): Promise<URL> {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    const response = await page.request.get(`${base}/authn/test/card/start`, { maxRedirects: 0 });
    const start = await page.request.get(new URL(response.headers()['location']!, base).href, { maxRedirects: 0 });
    const url = new URL(start.headers()['location']!);
    await page.context().close();
    return url;
  }
});
