import assert from 'node:assert/strict';
import { generateKeyPairSync, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { call } from './support/http.ts';
import { opensslAsync, opensslCsr, scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';
import { approveOrder, certificateRequest, enrollWithCode, KeyStoreError, openKeyStore, type KeyStore } from '../src/app/index.ts';
import { authnFrom, createAuthnPart } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { clientMetadata, createOidcPart, openSealer } from '../src/idp/oidc/index.ts';
import { fetchTrusting, freePort } from '../src/idp/oidc/test-support.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { createPortalPart, verifyAudit } from '../src/portal/index.ts';
import type { PartContext, PartFactory } from '../src/server/index.ts';

/** Screenshots of every step, for the closing note (the folder is gitignored). */
const SCREENSHOTS = new URL('../.tmp/screenshots/portal/', import.meta.url).pathname;
const PIN = '246810';
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const STEPS = ['document-out-of-cover', 'person-matches-photo', 'document-as-a-whole', 'expiry-date', 'security-features', 'surface-and-photo-integrity', 'police-register'];

interface Staff {
  readonly personnummer: string;
  readonly hsaId: string;
}

/** The eID app on a person's phone, with a mobile eID enrolled for them. */
interface Phone {
  readonly keys: KeyStore;
}

describe('eID portal in Chromium: a card from order to revocation', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let browser: Browser;
  let base: string;
  const phones = new Map<string, Phone>();
  let appHome: string;
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
      // The real authentication service: everyone logs in with a mobile eID from this installation's PKI, in the eID app library.
      [
        'authn',
        (c, started) => {
          context = c;
          return createAuthnPart(c, started);
        },
      ],
      ['oidc', createOidcPart],
      ['portal', createPortalPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 40 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') } }, parts);
    browser = await launchChromium();
    await rm(SCREENSHOTS, { recursive: true, force: true });
    await mkdir(SCREENSHOTS, { recursive: true });
    appHome = await mkdtemp(join(tmpdir(), 'tillit-portal-apps-'));
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
    // Each of them enrols a mobile eID in their phone's eID app, with a code the authentication service gives out.
    const authn = authnFrom(new Map(system.parts.map((p) => [p.name, p])));
    for (const who of [issuer, admin, admin2, cardholder]) {
      const keys = await openKeyStore(join(appHome, `phone-${who.personnummer}`));
      await enrollWithCode(app(), keys, (await authn.enrolment.createCode(who.personnummer, 'test operator')).code, PIN);
      phones.set(who.personnummer, { keys });
    }
  });
  after(async () => {
    files.done();
    if (appHome) await rm(appHome, { recursive: true, force: true });
    await browser?.close();
    await system?.stop();
  });

  const app = () => ({ baseUrl: base, ca: system.tls.ca });
  const phoneOf = (who: Staff) => phones.get(who.personnummer)!.keys;
  /** The same-device link on a login page: the person's eID app starts with its auto-start token and approves. */
  const approveOn = async (page: Page, who: Staff) => {
    const link = (await page.locator('a[href^="tillit-eid:"]').first().getAttribute('href'))!;
    await approveOrder(app(), phoneOf(who), { autoStartToken: new URL(link).searchParams.get('autostarttoken')! }, { pin: PIN });
  };
  const pem = (der: Uint8Array) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`.replace('\n\n', '\n');
  const caPem = async (caId: string) => {
    const bytes = Buffer.from(await (await fetch(`${system.httpUrl}/ca/${caId}.crt`)).arrayBuffer());
    const text = bytes.toString('latin1');
    return text.startsWith('-----') ? text : pem(bytes);
  };
  const shot = (page: Page, name: string) => page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });

  /** Signs in through the IdP's login page, the person's eID app approving; picks the service identity if asked. */
  async function signIn(who: Staff, locale = 'sv-SE'): Promise<Page> {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale })).newPage();
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    await page.goto(`${base}/portal`);
    await page.getByRole('link', { name: locale === 'sv-SE' ? 'Logga in med SITHS eID' : 'Sign in with SITHS eID' }).click();
    await page.getByRole('button', { name: locale === 'sv-SE' ? 'SITHS eID på annan enhet' : 'SITHS eID on another device' }).click();
    await page.waitForURL(/\/wait$/);
    await approveOn(page, who);
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

  it('orders, confirms a LoA 3 reserve card with four eyes, produces, hands out, activates, unlocks and revokes a card after an outage', async () => {
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
    await shot(page, '01-home-sv-SE');
    await page.getByLabel('Personnummer, HSA-id eller namn').fill(cardholder.hsaId);
    await page.keyboard.press('Enter');
    await shot(page, '02-search-sv-SE');
    await page.getByRole('link', { name: cardholder.name }).click();
    await page.waitForURL(`${base}/portal/persons/${cardholder.personnummer}`);
    await page.getByLabel('Typ').selectOption('ordinary');
    await page.getByLabel('Foto (JPEG eller PNG)').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PNG });
    await page.getByRole('button', { name: 'Beställ', exact: true }).click();
    assert.match((await flash(page)) ?? '', /: ordered/);
    await shot(page, '03-ordered-sv-SE');
    await page.getByLabel('Typ').selectOption('reserve');
    await page.getByLabel('Utlämningsställe (enhetens HSA-id, reservkort)').fill(office);
    await page.getByRole('button', { name: 'Beställ', exact: true }).click();
    assert.match((await flash(page)) ?? '', /: awaiting-confirmation/);
    const [ordinary, reserve] = (await context.db.query<{ id: number }>('select id from portal_card where personnummer = $1 order by id', [cardholder.personnummer])).map((r) => r.id) as [number, number];
    // The same administrator cannot confirm; the page says why.
    await page.locator(`#card-${reserve}`).locator('..').getByRole('button', { name: 'Bekräfta reservkort (andra ID-administratören)' }).click();
    assert.match((await flash(page)) ?? '', /second, different ID administrator/);
    await shot(page, '04-reserve-same-administrator-refused-sv-SE');

    // A forged post (no CSRF token) is refused and changes nothing.
    const forged = await page.evaluate(async (url) => (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' })).status, `${base}/portal/orders/${reserve}/withdraw`);
    assert.equal(forged, 403);
    await page.reload();
    assert.equal(await cardStatus(page, reserve), 'awaiting-confirmation');

    const second = await signIn(admin2, 'en-GB');
    await second.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    await second.getByRole('button', { name: 'Confirm reserve card (second ID administrator)' }).click();
    assert.equal(await cardStatus(second, reserve), 'ordered');
    await shot(second, '05-reserve-confirmed-four-eyes-en-GB');

    // The responsible issuer exports the batch; the manufacturer makes the keys on the cards (the ordinary card's in the
    // holder's eID app library, which plays the card) and its return file is read back.
    const issuerPage = await signIn(issuer);
    await issuerPage.goto(`${base}/portal/production`);
    await issuerPage.getByRole('button', { name: 'Skapa produktionsfil' }).click();
    const jsonl = (await issuerPage.locator('#batch-jsonl').textContent())!;
    const [header, ...lines] = jsonl.trim().split('\n').map((l) => JSON.parse(l) as { batch: number; order: number; slots: string[]; adminKey: string });
    assert.deepEqual(lines.map((l) => l.order), [ordinary, reserve]);
    await shot(issuerPage, '06-production-export-sv-SE');
    const cardKeys = new Map<string, KeyObject>();
    const csrFor = async (order: number, slot: string) => {
      if (order !== ordinary) return opensslCsr(files, `${order}-${slot}`, { subject: `/CN=card/serialNumber=${slot.endsWith('pnr') ? cardholder.personnummer : cardholder.hsaId}` });
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      cardKeys.set(slot, privateKey);
      return certificateRequest(publicKey, privateKey);
    };
    const returnLines = [];
    for (const [i, line] of lines.entries()) {
      const csrs: Record<string, string> = {};
      for (const slot of line.slots) csrs[slot] = await csrFor(line.order, slot);
      returnLines.push(JSON.stringify({ order: line.order, cardNumber: `C000000${i + 1}`, csrs }));
    }
    const returned = [JSON.stringify({ format: 'tillit-card-return/1', batch: header!.batch }), ...returnLines].join('\n');
    await issuerPage.getByLabel('Returfil från kortleverantören').fill(returned);
    await issuerPage.getByRole('button', { name: 'Läs in returfil' }).click();
    assert.match((await flash(issuerPage)) ?? '', /2 card\(s\) sent/);
    await shot(issuerPage, '07-production-return-read-sv-SE');
    await issuerPage.getByLabel('Returfil från kortleverantören').fill(returned);
    await issuerPage.getByRole('button', { name: 'Läs in returfil' }).click();
    assert.match((await flash(issuerPage)) ?? '', /already read for batch/);

    // The chip: the ordinary card's keys with the certificates the portal issued, and the admin key from the batch.
    const issued = await context.db.query<{ slot: string; serial: string; der: Uint8Array; ca_id: string }>(
      'select pcc.slot, pcc.serial, c.der, c.ca_id from portal_card_certificate pcc join pki_certificates c on c.serial = pcc.serial where pcc.card_id = $1 order by pcc.slot',
      [ordinary],
    );
    assert.equal(issued.length, 4);
    const card = await openKeyStore(join(appHome, 'card'));
    const [authCredential] = await card.importKeys(
      PIN,
      issued.map((c) => ({ kind: 'card' as const, label: 'SITHS-kort', privateKey: cardKeys.get(c.slot)!, certificatePem: pem(c.der), chainPem: [], cardId: 'chip', uses: c.slot.startsWith('auth') ? (['auth'] as const) : (['sign'] as const) })),
    );
    await card.setCardAdminKey('chip', Buffer.from(lines.find((l) => l.order === ordinary)!.adminKey, 'base64'));
    const authCertificate = issued[0]!;
    assert.equal(authCertificate.slot, 'auth-hsa');

    // Produced but not handed out: OpenSSL hears the certificates are on hold, never good.
    files.file('card.pem', pem(authCertificate.der));
    files.file('issuer.pem', await caPem(authCertificate.ca_id));
    files.file('root.pem', await caPem('root'));
    const ocspOfCard = () => opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('issuer.pem'), '-CAfile', files.path('root.pem'), '-cert', files.path('card.pem'), '-resp_text']);
    const heldAnswer = await ocspOfCard();
    assert.match(heldAnswer.output, /card\.pem: revoked/, heldAnswer.output);
    assert.match(heldAnswer.output, /Reason: certificateHold/);

    // Hand-out with the seven steps, then activation.
    await page.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    const handOut = async (steps: readonly string[]) => {
      const section = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
      await section.getByLabel('Kortnummer', { exact: true }).fill('C0000001');
      await section.getByLabel('Personnummer enligt ID-handlingen').fill(cardholder.personnummer);
      await section.getByLabel('ID-handling', { exact: true }).selectOption('passport');
      await section.getByLabel('Handlingens nummer').fill('PA1234567');
      await section.getByLabel('Giltig till').fill('2031-12-31');
      for (const step of steps) await section.locator(`input[value="${step}"]`).check();
    };
    await handOut(STEPS.slice(0, 6));
    await shot(page, '08-identity-check-sv-SE');
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByRole('button', { name: 'Lämna ut och aktivera' }).click();
    assert.match((await flash(page)) ?? '', /police-register/, 'the police check is required for a passport');
    assert.equal(await cardStatus(page, ordinary), 'sent');
    await shot(page, '09-identity-check-incomplete-refused-sv-SE');
    await handOut(STEPS);
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByRole('button', { name: 'Lämna ut och aktivera' }).click();
    assert.equal(await cardStatus(page, ordinary), 'active');
    assert.deepEqual(new Set(await page.locator(`#card-${ordinary}`).locator('..').locator('[data-certificate-status]').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-certificate-status')))), new Set(['good']));
    assert.match((await ocspOfCard()).output, /card\.pem: good/);
    await shot(page, '10-activated-sv-SE');
    // The person view names where third-party certificates on a card are revoked, and lists the holder's mobile eID.
    assert.match(await page.locator('[data-third-party-note]').innerText(), /spärras hos den utfärdaren/);
    assert.equal(await page.getByRole('heading', { name: 'Mobilt SITHS eID' }).count(), 1);
    assert.deepEqual(await page.locator('[data-mobile-status]').evaluateAll((cells) => cells.map((c) => c.getAttribute('data-mobile-status'))), ['active']);

    // The holder types a wrong PIN three times: the card is locked, the right PIN no longer works.
    for (let i = 0; i < 3; i++) await assert.rejects(card.sign(authCredential!, '000000', Buffer.from('x')), KeyStoreError);
    await assert.rejects(card.sign(authCredential!, PIN, Buffer.from('x')), (e) => e instanceof KeyStoreError && e.code === 'locked');

    // Unlock at the desk: the administrator opens the card's unlock page and starts the holder's mobile eID login.
    await page.locator(`section[aria-labelledby="card-${ordinary}"]`).getByRole('link', { name: 'Lås upp kortet (PIN spärrad)' }).click();
    await page.waitForURL(`${base}/portal/cards/${ordinary}/unlock`);
    assert.equal(await page.locator('#unlock-challenge').count(), 0, 'no code can be entered before the holder logged in');
    await shot(page, '11-unlock-start-sv-SE');
    await page.getByRole('button', { name: 'Starta innehavarens inloggning' }).click();
    await page.getByRole('img', { name: 'QR-kod för innehavarens inloggning' }).waitFor();
    assert.match((await page.locator('#tillit-hint').textContent()) ?? '', /Väntar på att innehavaren startar appen/);
    await shot(page, '12-unlock-holder-login-sv-SE');
    // Someone else approves with their own mobile eID (the administrator, here): the page says so and offers no code field.
    await approveOn(page, admin);
    await page.locator('[data-unlock-login]').waitFor({ timeout: 10_000 });
    assert.match((await page.getByRole('alert').textContent()) ?? '', /inte kortets innehavare/);
    assert.equal(await page.locator('#unlock-challenge').count(), 0);
    await shot(page, '13-unlock-someone-else-refused-sv-SE');
    // A new login, approved by the holder in their phone's app; the page moves on by itself.
    await page.getByRole('button', { name: 'Börja om' }).click();
    await page.getByRole('img', { name: 'QR-kod för innehavarens inloggning' }).waitFor();
    await approveOn(page, cardholder);
    await page.getByLabel('Upplåsningskoden som kortet visar').waitFor({ timeout: 10_000 });
    assert.match((await page.locator('[data-unlock-login]').textContent()) ?? '', new RegExp(cardholder.personnummer));
    await shot(page, '14-unlock-holder-logged-in-sv-SE');
    // A code that is not one is refused with a reason, and the login still counts.
    await page.getByLabel('Upplåsningskoden som kortet visar').fill('not a code');
    await page.getByRole('button', { name: 'Ta fram svaret till kortet' }).click();
    assert.match((await flash(page)) ?? '', /challenge: the base64 unlock challenge/);
    // The card shows its code; the administrator enters it and reads the response back to the card.
    const challenge = await card.unlockChallenge('chip');
    await page.getByLabel('Upplåsningskoden som kortet visar').fill(challenge);
    await page.getByRole('button', { name: 'Ta fram svaret till kortet' }).click();
    const response = ((await page.locator('#unlock-response').textContent()) ?? '').trim();
    assert.match(response, /^[A-Za-z0-9+/]{43}=$/);
    await shot(page, '15-unlock-response-sv-SE');
    await card.unlockCard('chip', response);
    const signed = Buffer.from('after the unlock');
    assert.ok(verify('sha256', signed, new X509Certificate(pem(authCertificate.der)).publicKey, await card.sign(authCredential!, PIN, signed)), 'the card signs with its PIN again');
    const [unlocked] = await context.db.query<{ actor: string; role: string }>("select actor, role from portal_audit where action = 'card.unlock' and target = $1", [`card:${ordinary}`]);
    assert.deepEqual({ ...unlocked }, { actor: admin.hsaId, role: 'id-administrator' });
    // The login was used: going back to the page starts over, and a replayed post is refused.
    await page.getByRole('link', { name: 'Tillbaka till personen' }).click();
    await page.goto(`${base}/portal/cards/${ordinary}/unlock`);
    assert.equal(await page.getByRole('button', { name: 'Starta innehavarens inloggning' }).count(), 1);
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const replay = await page.evaluate(
      async ([url, body]) => {
        const answer = await fetch(url!, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
        return { url: answer.url, text: await answer.text() };
      },
      [`${base}/portal/cards/${ordinary}/unlock`, new URLSearchParams({ _csrf: csrf, challenge }).toString()],
    );
    assert.equal(new URL(replay.url).pathname, `/portal/cards/${ordinary}/unlock`);
    assert.match(replay.text, /has not logged in for this unlock/);
    assert.doesNotMatch(replay.text, /id="unlock-response"/);
    // The same page in English, for the second administrator.
    await second.goto(`${base}/portal/cards/${ordinary}/unlock`);
    assert.equal(await second.getByRole('heading', { name: `Unlock card ${ordinary}` }).count(), 1);
    await shot(second, '16-unlock-start-en-GB');

    // Revocation registered after an outage: the request came in an hour ago, on paper (the card itself was ordered the day before).
    await page.goto(`${base}/portal/persons/${cardholder.personnummer}`);
    await context.db.query(`update portal_card set ordered_at = ordered_at - interval '1 day' where id = $1`, [ordinary]);
    const received = new Date(Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000);
    const swedish = new Intl.DateTimeFormat('sv-SE', { timeZone: 'Europe/Stockholm', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(received).replace(' ', 'T');
    const revoke = page.locator(`section[aria-labelledby="card-${ordinary}"]`);
    await revoke.getByLabel('Vem begärde spärren').fill('Kortinnehavaren, telefon 070-123 45 67');
    await revoke.getByLabel('Hur kom begäran in').selectOption('paper');
    await revoke.getByLabel('När kom begäran in (svensk tid)').fill(swedish);
    await revoke.getByLabel('Orsak').selectOption('lost');
    await shot(page, '17-revocation-after-outage-sv-SE');
    await revoke.getByRole('button', { name: 'Registrera spärr' }).click();
    assert.match((await flash(page)) ?? '', /revoked \(4\)/);
    assert.equal(await cardStatus(page, ordinary), 'revoked');
    await shot(page, '18-revoked-sv-SE');
    const [row] = await context.db.query<{ received_at: Date; serials: string[]; received_by: string }>('select received_at, serials, received_by from portal_revocation where card_id = $1', [ordinary]);
    assert.equal(row!.received_at.toISOString(), received.toISOString());
    assert.equal(row!.received_by, admin.hsaId);
    assert.ok(row!.serials.includes(authCertificate.serial));

    // OpenSSL asks the OCSP responder: revoked, key compromise, and the time the request was received as the invalidity date.
    const [, day, month, year, time] = /^\w+, (\d+) (\w+) (\d+) ([\d:]+)/.exec(received.toUTCString())!;
    const recordedTime = `${month}\\s+${Number(day)} ${time} ${year} GMT`;
    const ocsp = await ocspOfCard();
    assert.match(ocsp.output, /Response verify OK/);
    assert.match(ocsp.output, /card\.pem: revoked/, ocsp.output);
    assert.match(ocsp.output, /Reason: keyCompromise/);
    assert.match(ocsp.output, /Revocation Time: /);
    assert.match(ocsp.output, new RegExp(`Invalidity Date:\\s+${recordedTime}`), ocsp.output);
    // The CRL carries the same time.
    const crl = files.file('card.crl', Buffer.from(await (await fetch(`${system.httpUrl}/crl/${authCertificate.ca_id}.crl`)).arrayBuffer()));
    const crlText = (await opensslAsync(['crl', '-inform', 'DER', '-in', crl, '-noout', '-text'])).output;
    assert.match(crlText, new RegExp(`Serial Number: ${authCertificate.serial.toUpperCase()}[\\s\\S]*?Invalidity Date:\\s+${recordedTime}`));
    // Certificates of no known holder: the page is reached from the navigation; every holder here is known, so none are listed.
    await page.getByRole('link', { name: 'Certifikat utan känd innehavare' }).click();
    await page.waitForURL(`${base}/portal/unknown-holders`);
    assert.equal(await page.getByRole('heading', { name: 'Certifikat utan känd innehavare' }).count(), 1);
    assert.ok((await page.getByText('Inga.', { exact: true }).count()) >= 1);
    await shot(page, '19-unknown-holders-sv-SE');
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
    // The unlock page's status poll without a session: told to sign in again, nothing about the card.
    const status = await call(`${base}/portal/cards/1/unlock/status`, { ca: system.tls.ca });
    assert.equal(status.status, 401);
    assert.deepEqual(JSON.parse(status.body), { status: 'gone', next: '/portal?expired=1' });
  });

  /** An access token the IdP issued to the portal's client (as an HR system acting for the administrator would hold). */
  async function accessTokenFor(who: Staff): Promise<string> {
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
    await approveOn(page, who);
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
