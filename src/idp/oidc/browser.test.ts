import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserUnavailable, launchChromium } from '../../../test/support/browser.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { postJson } from '../../app/index.ts';
import { qrContent, type Challenge } from '../../authn/index.ts';
import { createDirectoryPart } from '../../directory/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import { addClient, createOidcPart, openSealer } from './index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart, type EidHolder } from './test-support.ts';

const SCREENSHOTS = new URL('../../../.tmp/screenshots/', import.meta.url).pathname;
const REDIRECT = 'https://rp.example/callback';

describe('login pages in Chromium', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let browser: Browser;
  let base: string;
  const holders: EidHolder[] = [];

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
      ['oidc', createOidcPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 20 } }, oidc: { encryptionKey: Buffer.alloc(32, 9).toString('base64') } }, parts);
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
  });

  for (const [locale, heading, choose] of [
    ['sv-SE', 'Logga in till Journalen', 'Välj hur du vill legitimera dig.'],
    ['en-GB', 'Log in to Journalen', 'Choose how to identify yourself.'],
  ] as const) {
    it(`logs in with the animated QR code and chooses a commission (${locale})`, async () => {
      const [row] = await context.db.query<{ personnummer: string }>(
        `select p.personnummer from directory_person p join directory_service_identity s on s.person_id = p.id join directory_commission c on c.service_identity_hsa_id = s.hsa_id
          group by p.personnummer having count(*) >= 2 order by p.personnummer limit 1`,
      );
      const holder = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'T', surname: 'P' });
      holders.push(holder);
      const { client } = await addClient(context.db, await openSealer(system.config), { displayName: 'Journalen', redirectUris: [REDIRECT], allowedClaims: ['name', 'commissionHsaId'] });
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale })).newPage();
      const problems: string[] = [];
      page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
      let landedAt = '';
      await page.route('https://rp.example/**', async (route) => {
        landedAt = route.request().url();
        await route.fulfill({ status: 200, contentType: 'text/plain', body: 'relying party' });
      });
      const claims = JSON.stringify({ id_token: { commissionHsaId: { essential: true } } });
      const authorize = `${base}/oidc/auth?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', claims })}`;
      await page.goto(authorize);
      assert.equal(await page.locator('h1').textContent(), heading);
      assert.equal(await page.locator('main p').first().textContent(), choose);
      await page.screenshot({ path: `${SCREENSHOTS}oidc-method-${locale}.png`, fullPage: true });
      await page.getByRole('button', { name: locale === 'sv-SE' ? 'SITHS eID på annan enhet' : 'SITHS eID on another device' }).click();
      await page.waitForURL(/\/wait$/);
      const first = await page.getAttribute('#tillit-qr', 'src');
      // The page script replaces the QR code with the next second's.
      await page.waitForFunction((src) => document.querySelector('#tillit-qr')?.getAttribute('src') !== src, first);
      assert.equal(await page.isVisible('#tillit-collect'), false, 'the no-script button hides when the script runs');
      await page.screenshot({ path: `${SCREENSHOTS}oidc-qr-${locale}.png`, fullPage: true });
      const uid = new URL(page.url()).pathname.split('/')[3]!;
      const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
      const app = { baseUrl: base, ca: system.tls.ca };
      const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
      await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
      // The page notices by itself and moves on to the commission choice.
      await page.waitForSelector('input[name="choice"]');
      await page.screenshot({ path: `${SCREENSHOTS}oidc-commission-${locale}.png`, fullPage: true });
      await page.locator('input[name="choice"]').nth(1).check();
      await page.getByRole('button', { name: locale === 'sv-SE' ? 'Fortsätt' : 'Continue' }).click();
      await page.waitForURL(/^https:\/\/rp\.example\//);
      assert.ok(new URL(landedAt).searchParams.get('code'), landedAt);
      assert.deepEqual(problems, [], 'no console errors (CSP violations show up here)');
    });
  }

  it('logs in on the same device through the app link, after a refused attempt shows why and offers to try again (sv-SE)', async () => {
    const [row] = await context.db.query<{ personnummer: string }>('select personnummer from directory_person order by personnummer desc limit 1');
    const holder = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const stranger = eidHolder({ personalIdentityNumber: row!.personnummer, givenName: 'X', surname: 'Y' });
    const { client } = await addClient(context.db, await openSealer(system.config), { displayName: 'Journalen', redirectUris: [REDIRECT], allowedClaims: ['name'] });
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' })).newPage();
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    const authorize = `${base}/oidc/auth?${new URLSearchParams({ client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
    await page.goto(authorize);
    await page.getByRole('button', { name: 'SITHS eID på denna enhet' }).click();
    await page.waitForURL(/\/wait$/);
    const app = { baseUrl: base, ca: system.tls.ca };
    const answerFrom = async (who: EidHolder) => {
      const href = await page.getAttribute('a[href^="tillit-eid:"]', 'href');
      const token = new URL(href!).searchParams.get('autostarttoken');
      const challenge = (await postJson(app, 'app/v1/claim', { autoStartToken: token })) as Challenge;
      await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...who.answer(challenge) });
    };
    await answerFrom(stranger);
    await page.waitForSelector('#tillit-retry:not([hidden])');
    assert.match((await page.locator('#tillit-hint').textContent()) ?? '', /godtogs inte/);
    await page.screenshot({ path: `${SCREENSHOTS}oidc-refused-sv-SE.png`, fullPage: true });
    await page.getByRole('link', { name: 'Försök igen' }).click();
    await page.getByRole('button', { name: 'SITHS eID på denna enhet' }).click();
    await page.waitForURL(/\/wait$/);
    // The page moves on by itself and the browser is sent to the client with a code (rp.example does not resolve here: the request is what counts).
    const toClient = page.waitForRequest(/^https:\/\/rp\.example\//);
    await answerFrom(holder);
    assert.ok(new URL((await toClient).url()).searchParams.get('code'));
    assert.deepEqual(problems.filter((p) => !p.includes('ERR_NAME_NOT_RESOLVED')), []);
  });
});
