import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { call } from './support/http.ts';
import { opensslAsync, opensslCsr, scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';
import { postJson } from '../src/app/index.ts';
import { qrContent, type Challenge } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { clientMetadata, createOidcPart, openSealer } from '../src/idp/oidc/index.ts';
import { eidHolder, fetchTrusting, freePort, holdersVerifier, testAuthnPart, type EidHolder } from '../src/idp/oidc/test-support.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { createPortalPart, verifyAudit } from '../src/portal/index.ts';
import type { PartContext, PartFactory } from '../src/server/index.ts';

const SCREENSHOTS = new URL('../.tmp/screenshots/', import.meta.url).pathname;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const STEPS = ['document-out-of-cover', 'person-matches-photo', 'document-as-a-whole', 'expiry-date', 'security-features', 'surface-and-photo-integrity', 'police-register'];

interface Staff {
  readonly personnummer: string;
  readonly hsaId: string;
}

describe('eID portal in Chromium: a card from order to revocation', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let browser: Browser;
  let base: string;
  const holders: EidHolder[] = [];
  const files = scratch();
  const problems: string[] = [];
  let issuer: Staff;
  let admin: Staff;
  let admin2: Staff;
  let cardholder: Staff & { name: string };

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['pki', createPkiPart],
      ['directory', createDirectoryPart],
      ['authn', testAuthnPart(holdersVerifier(holders), (c) => (context = c))],
      ['oidc', createOidcPart],
      ['portal', createPortalPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 40 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') } }, parts);
    browser = await launchChromium();
    await mkdir(SCREENSHOTS, { recursive: true });
    const staff = async (role: string) =>
      (
        await context.db.query<Staff>(
          `select p.personnummer, r.holder_hsa_id as "hsaId" from portal_role_assignment r join directory_service_identity s on s.hsa_id = r.holder_hsa_id join directory_person p on p.id = s.person_id where r.role = $1 order by r.id limit 1`,
          [role],
        )
      )[0]!;
    issuer = await staff('responsible-issuer');
    admin = await staff('id-administrator');
    // A second ID administrator for the four eyes, appointed by the issuer through the API below; and a card holder, adult, with one service identity.
    const [organisation] = await context.db.query<{ organisation: string }>(`select organisation_hsa_id as organisation from portal_role_assignment limit 1`);
    const others = await context.db.query<Staff & { name: string }>(
      `select p.personnummer, min(s.hsa_id) as "hsaId", min(p.given_name || ' ' || p.surname) as name from directory_person p join directory_service_identity s on s.person_id = p.id
        where s.organisation_hsa_id = $1 and not p.protected_identity and not p.deceased and p.personnummer < '2000' and p.personnummer not in ($2, $3)
        group by p.personnummer having count(*) = 1 order by p.personnummer limit 2`,
      [organisation!.organisation, issuer.personnummer, admin.personnummer],
    );
    [admin2, cardholder] = others as [Staff, Staff & { name: string }];
  });
  after(async () => {
    files.done();
    await browser?.close();
    await system?.stop();
  });

  /** Signs in through the IdP's QR page, the eID app answering; picks the service identity if asked. */
  async function signIn(who: Staff, locale = 'sv-SE'): Promise<Page> {
    const holder = eidHolder({ personalIdentityNumber: who.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale })).newPage();
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    await page.goto(`${base}/portal`);
    await page.getByRole('link', { name: locale === 'sv-SE' ? 'Logga in med SITHS eID' : 'Sign in with SITHS eID' }).click();
    await page.getByRole('button', { name: locale === 'sv-SE' ? 'SITHS eID på annan enhet' : 'SITHS eID on another device' }).click();
    await page.waitForURL(/\/wait$/);
    const uid = new URL(page.url()).pathname.split('/')[3]!;
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    await page.waitForURL((url) => url.pathname === '/portal' || (url.pathname.includes('/interaction/') && !url.pathname.endsWith('/wait')));
    if (new URL(page.url()).pathname !== '/portal') {
      await page.locator(`input[name="choice"][value="${who.hsaId}"]`).check();
      await page.getByRole('button', { name: locale === 'sv-SE' ? 'Fortsätt' : 'Continue' }).click();
      await page.waitForURL(`${base}/portal`);
    }
    assert.match((await page.locator('nav.tillit-portal-nav').textContent()) ?? '', new RegExp(who.hsaId));
    return page;
  }

  const flash = (page: Page) => page.locator('.ds-alert').first().textContent();
  const cardStatus = (page: Page, id: number) => page.locator(`#card-${id} [data-card-status]`).getAttribute('data-card-status');

  it('orders, confirms a LoA 3 reserve card with four eyes, produces, hands out, activates and revokes a card after an outage', async () => {
    // The responsible issuer appoints the second ID administrator through the API, with an access token from the IdP.
    const token = await accessTokenFor(issuer);
    const organisation = (await context.db.query<{ o: string }>(`select organisation_hsa_id as o from portal_role_assignment where holder_hsa_id = $1`, [issuer.hsaId]))[0]!.o;
    const appointed = await call(`${base}/portal/api/roles`, { method: 'POST', ca: system.tls.ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ holder: admin2.hsaId, role: 'id-administrator', organisation, trainedOn: new Date().toISOString().slice(0, 10) }) });
    assert.equal(appointed.status, 201, appointed.body);
    assert.equal((await call(`${base}/portal/api/me`, { ca: system.tls.ca, headers: { authorization: 'Bearer not-a-token-from-the-idp' } })).status, 401);
    const office = (await context.db.query<{ unit: string }>(`select unit_hsa_id as unit from directory_service_identity where hsa_id = $1`, [cardholder.hsaId]))[0]!.unit;
    const stocked = await call(`${base}/portal/api/stock`, { method: 'POST', ca: system.tls.ca, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ organisation, office, kind: 'received', count: 10 }) });
    assert.equal(stocked.status, 200, stocked.body);

    // The ID administrator finds the person and orders an ordinary card with a photo, and a LoA 3 reserve card.
    const page = await signIn(admin);
    await page.screenshot({ path: `${SCREENSHOTS}portal-home-sv-SE.png`, fullPage: true });
    await page.getByLabel('Personnummer, HSA-id eller namn').fill(cardholder.hsaId);
    await page.keyboard.press('Enter');
    await page.getByRole('link', { name: cardholder.name }).click();
    await page.waitForURL(`${base}/portal/persons/${cardholder.personnummer}`);
    await page.getByLabel('Typ').selectOption('ordinary');
    await page.getByLabel('Foto (JPEG eller PNG)').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('button', { name: 'Beställ', exact: true }).click();
    assert.match((await flash(page)) ?? '', /: ordered/);
    await page.getByLabel('Typ').selectOption('reserve');
    await page.getByLabel('Utlämningsställe (enhetens HSA-id, reservkort)').fill(office);
    await page.getByRole('button', { name: 'Beställ', exact: true }).click();
    assert.match((await flash(page)) ?? '', /: awaiting-confirmation/);
    const [ordinary, reserve] = (await context.db.query<{ id: number }>('select id from portal_card where personnummer = $1 order by id', [cardholder.personnummer])).map((r) => r.id) as [number, number];
    // The same administrator cannot confirm; the page says why.
    await page.locator(`#card-${reserve}`).locator('..').getByRole('button', { name: 'Bekräfta reservkort (andra ID-administratören)' }).click();
    assert.match((await flash(page)) ?? '', /second, different ID administrator/);
    await page.screenshot({ path: `${SCREENSHOTS}portal-person-sv-SE.png`, fullPage: true });

    // A forged post (no CSRF token) is refused and changes nothing.
    const forged = await page.evaluate(async (url) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })).status, `${base}/portal/orders/${reserve}/withdraw`);
    assert.equal(forged, 403);
    await page.reload();
    assert.equal(await cardStatus(page, reserve), 'awaiting-confirmation');

    const second = await signIn(admin2, 'en-GB');
    await second.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    await second.getByRole('button', { name: 'Confirm reserve card (second ID administrator)' }).click();
    assert.equal(await cardStatus(second, reserve), 'ordered');
    await second.screenshot({ path: `${SCREENSHOTS}portal-person-en-GB.png`, fullPage: true });

    // The responsible issuer exports the batch; the manufacturer's return file is read back.
    const issuerPage = await signIn(issuer);
    await issuerPage.goto(`${base}/portal/production`);
    await issuerPage.getByRole('button', { name: 'Skapa produktionsfil' }).click();
    const jsonl = (await issuerPage.locator('#batch-jsonl').textContent())!;
    const [header, ...lines] = jsonl.trim().split('\n').map((l) => JSON.parse(l) as { batch: number; order: number; slots: string[] });
    assert.deepEqual(lines.map((l) => l.order), [ordinary, reserve]);
    await issuerPage.screenshot({ path: `${SCREENSHOTS}portal-production-sv-SE.png`, fullPage: true });
    const returned = [
      JSON.stringify({ format: 'tillit-card-return/1', batch: header!.batch }),
      ...lines.map((line, i) =>
        JSON.stringify({
          order: line.order,
          cardNumber: `C000000${i + 1}`,
          csrs: Object.fromEntries(line.slots.map((slot) => [slot, opensslCsr(files, `${line.order}-${slot}`, { subject: `/CN=card/serialNumber=${slot.endsWith('pnr') ? cardholder.personnummer : cardholder.hsaId}` })])),
        }),
      ),
    ].join('\n');
    await issuerPage.getByLabel('Returfil från kortleverantören').fill(returned);
    await issuerPage.getByRole('button', { name: 'Läs in returfil' }).click();
    assert.match((await flash(issuerPage)) ?? '', /2 card\(s\) sent/);
    await issuerPage.getByLabel('Returfil från kortleverantören').fill(returned);
    await issuerPage.getByRole('button', { name: 'Läs in returfil' }).click();
    assert.match((await flash(issuerPage)) ?? '', /already read for batch/);

    // Hand-out with the seven steps, then activation.
    await page.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    const card = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
    await card.getByLabel('Kortnummer', { exact: true }).fill('C0000001');
    await card.getByLabel('Personnummer enligt ID-handlingen').fill(cardholder.personnummer);
    await card.getByLabel('ID-handling', { exact: true }).selectOption('passport');
    await card.getByLabel('Handlingens nummer').fill('PA1234567');
    await card.getByLabel('Giltig till').fill('2031-12-31');
    for (const step of STEPS.slice(0, 6)) await card.locator(`input[value="${step}"]`).check();
    await card.getByRole('button', { name: 'Lämna ut och aktivera' }).click();
    assert.match((await flash(page)) ?? '', /police-register/, 'the police check is required for a passport');
    assert.equal(await cardStatus(page, ordinary), 'sent');
    const again = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
    await again.getByLabel('Kortnummer', { exact: true }).fill('C0000001');
    await again.getByLabel('Personnummer enligt ID-handlingen').fill(cardholder.personnummer);
    await again.getByLabel('ID-handling', { exact: true }).selectOption('passport');
    await again.getByLabel('Handlingens nummer').fill('PA1234567');
    await again.getByLabel('Giltig till').fill('2031-12-31');
    for (const step of STEPS) await again.locator(`input[value="${step}"]`).check();
    await again.getByRole('button', { name: 'Lämna ut och aktivera' }).click();
    assert.equal(await cardStatus(page, ordinary), 'active');
    assert.deepEqual(new Set(await page.locator(`#card-${ordinary}`).locator('..').locator('[data-certificate-status]').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-certificate-status')))), new Set(['good']));
    // The person view names where third-party certificates on a card are revoked, and lists the mobile eIDs (none for this holder).
    assert.match(await page.locator('[data-third-party-note]').innerText(), /spärras hos den utfärdaren/);
    assert.equal(await page.getByRole('heading', { name: 'Mobilt SITHS eID' }).count(), 1);
    assert.equal(await page.getByText('Inga mobila eID.').count(), 1);
    // Unlock is offered for the active card; this system's authentication stand-in runs no order service for the portal, so it is refused with a reason.
    const unlockSection = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
    await unlockSection.getByRole('button', { name: 'Starta innehavarens inloggning' }).click();
    assert.match((await flash(page)) ?? '', /authentication service/);
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByLabel('Inloggningens ordernummer').fill('no-such-order');
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByLabel('Kortets utmaning (base64)').fill(Buffer.alloc(32, 1).toString('base64'));
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByRole('button', { name: 'Svara på utmaningen' }).click();
    assert.match((await flash(page)) ?? '', /authentication service/);
    assert.equal(await cardStatus(page, ordinary), 'active');

    // Revocation registered after an outage: the request came in an hour ago, on paper (the card itself was ordered the day before).
    await context.db.query(`update portal_card set ordered_at = ordered_at - interval '1 day' where id = $1`, [ordinary]);
    const received = new Date(Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000);
    const swedish = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(received).replace(' ', 'T');
    const revoke = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
    await revoke.getByLabel('Vem begärde spärren').fill('Kortinnehavaren, telefon 070-123 45 67');
    await revoke.getByLabel('Hur kom begäran in').selectOption('paper');
    await revoke.getByLabel('När kom begäran in (svensk tid)').fill(swedish);
    await revoke.getByLabel('Orsak').selectOption('lost');
    await revoke.getByRole('button', { name: 'Registrera spärr' }).click();
    assert.match((await flash(page)) ?? '', /revoked \(4\)/);
    assert.equal(await cardStatus(page, ordinary), 'revoked');
    await page.screenshot({ path: `${SCREENSHOTS}portal-revoked-sv-SE.png`, fullPage: true });
    const [row] = await context.db.query<{ received_at: Date; serials: string[]; received_by: string }>('select received_at, serials, received_by from portal_revocation where card_id = $1', [ordinary]);
    assert.equal(row!.received_at.toISOString(), received.toISOString());
    assert.equal(row!.received_by, admin.hsaId);

    // OpenSSL asks the OCSP responder: revoked, key compromise.
    const [certificate] = await context.db.query<{ der: Uint8Array; ca_id: string }>('select der, ca_id from pki_certificates where serial = $1', [row!.serials[0]]);
    const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
    files.file('card.pem', pem(certificate!.der));
    const caPem = async (caId: string) => {
      const bytes = Buffer.from(await (await fetch(`${system.httpUrl}/ca/${caId}.crt`)).arrayBuffer());
      const text = Buffer.from(bytes).toString('latin1');
      return text.startsWith('-----') ? text : pem(bytes);
    };
    files.file('issuer.pem', await caPem(certificate!.ca_id));
    files.file('root.pem', await caPem('root'));
    const ocsp = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', files.path('card.pem'), '-resp_text']);
    assert.match(ocsp.output, /card\.pem: revoked/, ocsp.output);
    assert.match(ocsp.output, /Reason: keyCompromise/);
    assert.match(ocsp.output, /Revocation Time: /);
    // The CRL carries the time the request was received, as recorded.
    const crl = files.file('card.crl', Buffer.from(await (await fetch(`${system.httpUrl}/crl/${certificate!.ca_id}.crl`)).arrayBuffer()));
    const crlText = (await opensslAsync(['crl', '-inform', 'DER', '-in', crl, '-noout', '-text'])).output;
    const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+)/.exec(received.toUTCString())!;
    assert.match(crlText, new RegExp(`Serial Number: ${row!.serials[0]!.toUpperCase()}[\\s\\S]*?Invalidity Date:\\s+${month}\\s+${Number(day)} ${time} ${year} GMT`));
    // Certificates of no known holder: the page is reached from the navigation; every holder here is known, so none are listed.
    await page.getByRole('link', { name: 'Certifikat utan känd innehavare' }).click();
    await page.waitForURL(`${base}/portal/unknown-holders`);
    assert.equal(await page.getByRole('heading', { name: 'Certifikat utan känd innehavare' }).count(), 1);
    assert.ok((await page.getByText('Inga.', { exact: true }).count()) >= 1);
    assert.equal((await verifyAudit(context.db)).ok, true);
    assert.deepEqual(problems.filter((p) => !p.includes('status of 403')), [], 'no console errors but the forged post’s refusal (CSP violations show up here)');
  });

  it('signs out an idle administrator and refuses another organisation’s card', async () => {
    const page = await signIn(admin);
    const cookie = (await page.context().cookies()).find((c) => c.name === 'tillit_portal')!;
    await context.ephemeral.delete(`portal:session:${cookie.value}`);
    await page.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    await page.waitForURL(`${base}/portal?expired=1`);
    assert.match((await page.locator('[role="alert"]').textContent()) ?? '', /inaktiv för länge/);
  });

  /** An access token the IdP issued to the portal's client (as an HR system acting for the administrator would hold). */
  async function accessTokenFor(who: Staff): Promise<string> {
    const holder = eidHolder({ personalIdentityNumber: who.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const metadata = await clientMetadata(context.db, await openSealer(system.config), 'tillit-portal');
    const fetch = fetchTrusting(system.tls.ca);
    const config = await client.discovery(new URL(`${base}/oidc`), 'tillit-portal', undefined, client.ClientSecretBasic(String(metadata!['client_secret'])), { [client.customFetch]: fetch });
    config[client.customFetch] = fetch;
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: `${base}/portal/callback`, scope: 'openid employee', code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', state: 'api-state' });
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' })).newPage();
    // The portal's own callback ignores a login it did not start; the code in the URL is what this test exchanges.
    const callback = page.waitForRequest((request) => request.url().startsWith(`${base}/portal/callback?`)).then((request) => request.url());
    await page.goto(url.href);
    await page.getByRole('button', { name: 'SITHS eID på annan enhet' }).click();
    await page.waitForURL(/\/wait$/);
    const uid = new URL(page.url()).pathname.split('/')[3]!;
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    const chosen = await Promise.race([callback.then(() => true), page.waitForSelector(`input[name="choice"][value="${who.hsaId}"]`).then(() => false)]);
    if (!chosen) {
      await page.locator(`input[name="choice"][value="${who.hsaId}"]`).check();
      await page.getByRole('button', { name: 'Fortsätt' }).click();
    }
    const landed = await callback;
    await page.context().close();
    const tokens = await client.authorizationCodeGrant(config, new URL(landed), { pkceCodeVerifier: verifier, expectedState: 'api-state' });
    return tokens.access_token;
  }
});
