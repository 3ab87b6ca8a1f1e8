import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { browserUnavailable, launchChromium } from '../../../test/support/browser.ts';
import { startLoopbackProxy } from '../../../test/support/loopback-proxy.ts';
import { startTestSystem } from '../../../test/support/system.ts';
import { pkiFrom, type Pki } from '../../pki/index.ts';
import { addClient, openSealer } from './index.ts';
import { fetchTrusting, freePort } from './test-support.ts';

const SCREENSHOTS = new URL('../../../.tmp/screenshots/', import.meta.url).pathname;
const REDIRECT = 'https://rp.example/callback';
const TLS_CLIENT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';

describe('card login over mutual TLS through the OpenID Connect pages, in Chromium', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let browser: Browser;
  let proxy: Awaited<ReturnType<typeof startLoopbackProxy>>;
  let base: string;
  let mtlsPort: number;
  let pki: Pki;
  let person: { hsaId: string; personnummer: string; givenName: string; surname: string };

  before(async () => {
    const port = await freePort();
    mtlsPort = await freePort();
    base = `https://127.0.0.1:${port}`;
    system = await startTestSystem({
      server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base },
      authn: { mtls: { port: mtlsPort } },
      directory: { demo: { persons: 20 } },
      oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') },
    });
    pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    const [row] = await system.db.query<typeof person>(
      `select s.hsa_id as "hsaId", p.personnummer, p.given_name as "givenName", p.surname
         from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
         join directory_commission c on c.service_identity_hsa_id = s.hsa_id and c.valid_to is null
        group by p.id, s.hsa_id, p.personnummer, p.given_name, p.surname having count(*) >= 2
        order by (select count(*) from directory_service_identity x where x.person_id = p.id and x.valid_to is null) desc, s.hsa_id limit 1`,
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

  const card = (profile: 'person-auth-hsa-loa3' | 'person-sign-hsa-loa3') =>
    pki.issueWithNewKey(profile, { commonName: `${person.givenName} ${person.surname}`, givenName: person.givenName, surname: person.surname, serialNumber: person.hsaId });
  const origin = (n: number) => `https://mtls-${n}.localhost:${mtlsPort}`;

  async function journal() {
    const sealer = await openSealer(system.config);
    return addClient(system.db, sealer, { displayName: 'Journalen', redirectUris: [REDIRECT], methods: ['mtls', 'oob-other'], allowedClaims: ['name', 'commissionHsaId'] });
  }

  for (const [locale, lang] of [['sv-SE', 'sv'], ['en-GB', 'en']] as const) {
    it(`takes the signature certificate, explains, and logs in on the next rolling host with the authentication one; amr is TLSClient (${locale})`, async () => {
      const signature = await card('person-sign-hsa-loa3');
      const authentication = await card('person-auth-hsa-loa3');
      const { client: registered, secret } = await journal();
      // As a person picking a certificate per host: the wrong one on the first host, the right one on the second.
      const context = await browser.newContext({
        ignoreHTTPSErrors: true,
        locale,
        proxy: { server: proxy.url },
        clientCertificates: [
          { origin: origin(1), cert: Buffer.from(signature.certificatePem), key: Buffer.from(signature.privateKeyPem) },
          { origin: origin(2), cert: Buffer.from(authentication.certificatePem), key: Buffer.from(authentication.privateKeyPem) },
        ],
      });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
      let landedAt = '';
      await page.route('https://rp.example/**', async (route) => {
        landedAt = route.request().url();
        await route.fulfill({ status: 200, contentType: 'text/plain', body: 'relying party' });
      });
      const fetch = fetchTrusting(system.tls.ca);
      const config = await client.discovery(new URL(`${base}/oidc`), registered.clientId, undefined, client.ClientSecretBasic(secret!), { [client.customFetch]: fetch });
      config[client.customFetch] = fetch;
      const verifier = client.randomPKCECodeVerifier();
      const claims = JSON.stringify({ id_token: { commissionHsaId: { essential: true } } });
      const authorize = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid profile', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'st', claims });
      await page.goto(authorize.href);
      await page.screenshot({ path: `${SCREENSHOTS}card-method-${locale}.png`, fullPage: true });
      await page.getByRole('link', { name: lang === 'sv' ? 'SITHS-kort på denna enhet' : 'SITHS card on this device' }).click();
      await page.waitForSelector('#tillit-card-refusal');
      assert.equal(await page.getAttribute('#tillit-card-refusal', 'data-code'), 'signatureCertificate');
      assert.match((await page.locator('#tillit-card-refusal').textContent()) ?? '', lang === 'sv' ? /underskriftscertifikatet/ : /signature certificate/);
      assert.match((await page.locator('#tillit-card-certificate').textContent()) ?? '', new RegExp(person.hsaId));
      await page.screenshot({ path: `${SCREENSHOTS}card-wrong-certificate-${locale}.png`, fullPage: true });
      await page.locator('#tillit-card-retry').click();
      await page.waitForSelector('input[name="choice"]');
      const offered = await page.locator('input[name="choice"]').evaluateAll((inputs) => inputs.map((i) => (i as HTMLInputElement).value));
      assert.ok(offered.length >= 2 && offered.every((hsaId) => hsaId.startsWith(person.hsaId)), `only the card's service identity's commissions: ${offered.join(', ')}`);
      await page.screenshot({ path: `${SCREENSHOTS}card-commission-${locale}.png`, fullPage: true });
      await page.getByRole('button', { name: lang === 'sv' ? 'Fortsätt' : 'Continue' }).click();
      await page.waitForURL(/^https:\/\/rp\.example\//);
      const tokens = await client.authorizationCodeGrant(config, new URL(landedAt), { pkceCodeVerifier: verifier, expectedState: 'st' });
      const idToken = tokens.claims()!;
      assert.deepEqual(idToken['amr'], [TLS_CLIENT]);
      assert.equal(idToken['acr'], 'http://id.sambi.se/loa/loa3');
      assert.ok(idToken['commissionHsaId']);
      assert.deepEqual(problems, [], 'no console errors (CSP violations show up here)');
      await context.close();
    });
  }

  it('tells the person to restart the browser after the last rolling host (sv-SE)', async () => {
    const { client: registered } = await journal();
    const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE', proxy: { server: proxy.url } });
    // Twenty-five attempts already made in this browser session.
    await context.addCookies([{ name: 'tillit_card_attempts', value: '25', url: `${base}/authn/card/`, secure: true, httpOnly: true }]);
    const page = await context.newPage();
    const authorize = `${base}/oidc/auth?${new URLSearchParams({ client_id: registered.clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`;
    await page.goto(authorize);
    await page.getByRole('link', { name: 'SITHS-kort på denna enhet' }).click();
    await page.waitForSelector('#tillit-card-restart');
    assert.match((await page.locator('#tillit-card-restart').textContent()) ?? '', /25 gånger.*starta(r)? webbläsaren/);
    assert.equal(new URL(page.url()).host, new URL(base).host, 'no rolling host after the last one');
    await page.screenshot({ path: `${SCREENSHOTS}card-restart-browser-sv-SE.png`, fullPage: true });
    await context.close();
  });
});
