import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { call } from './support/http.ts';
import { openssl, opensslAsync, opensslCsr, scratch } from './support/openssl.ts';
import { startTestSystem } from './support/system.ts';
import { enrollMobileEid, openKeyStore, postJson } from '../src/app/index.ts';
import { createEnrolmentService, qrContent, type Challenge, type EnrolmentService } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { createOidcPart } from '../src/idp/oidc/index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart, type EidHolder } from '../src/idp/oidc/test-support.ts';
import { createPkiPart, pkiFrom } from '../src/pki/index.ts';
import { createPortalPart, verifyAudit } from '../src/portal/index.ts';
import { validateDomain } from '../src/portal/function/domains.ts';
import { authoriseOrderer } from '../src/portal/function/orderers.ts';
import { appointRole } from '../src/portal/role-store.ts';
import type { PartContext, PartFactory } from '../src/server/index.ts';

/** The function-certificate and Mina sidor routes in the running portal part (migrations applied, pages and API wired, sign-in required). */
describe('portal part: function certificates and Mina sidor wired into the running system', () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let base: string;
  let context: PartContext;
  let browser: Browser | undefined;
  let enrolment: EnrolmentService;
  const holders: EidHolder[] = [];
  const files = scratch();

  before(async () => {
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const parts = new Map<string, PartFactory>([
      ['pki', createPkiPart],
      ['directory', createDirectoryPart],
      // The stand-in authn part plus the real enrolment service, which Mina sidor's mobile eIDs go through.
      [
        'authn',
        async (c, started) => {
          enrolment = createEnrolmentService({ db: c.db, pki: pkiFrom(started), now: c.now });
          return { ...(await testAuthnPart(holdersVerifier(holders), (ctx) => (context = ctx))(c, started)), provides: { enrolment } };
        },
      ],
      ['oidc', createOidcPart],
      ['portal', createPortalPart],
    ]);
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 20 } }, oidc: { encryptionKey: Buffer.alloc(32, 5).toString('base64') } }, parts);
  });
  after(async () => {
    files.done();
    await browser?.close();
    await system?.stop();
  });

  it('lists the routes in the OpenAPI document and asks for sign-in everywhere', async () => {
    const ca = system.tls.ca;
    const document = JSON.parse((await call(`${base}/portal/api/openapi.json`, { ca })).body) as { paths: Record<string, unknown> };
    for (const path of ['/portal/api/domains', '/portal/api/function-certificates', '/portal/api/function-certificates/{serial}/renew', '/portal/api/mine/eids', '/portal/api/mine/mobile-eids', '/portal/api/mine/mobile-eids/enrolment', '/portal/api/mine/mobile-eids/{serial}/lost']) assert.ok(document.paths[path], path);
    assert.equal((await call(`${base}/portal/api/function-certificates`, { ca, method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status, 401);
    assert.equal((await call(`${base}/portal/api/mine/eids`, { ca, headers: { authorization: 'Bearer not-from-the-idp' } })).status, 401);
    for (const page of ['/portal/function-certificates', '/portal/mine']) {
      const answer = await call(`${base}${page}`, { ca });
      assert.equal(answer.status, 303, page);
      assert.equal(answer.headers.location, '/portal?expired=1');
    }
    const start = await call(`${base}/`, { ca });
    assert.match(start.body, /href="\/portal\/mine"/);
  });

  it('in Chromium: an orderer signed in with the eID orders from a pasted CSR and downloads a chain OpenSSL verifies; in Mina sidor extends a reserve card once and reports a card lost (OCSP revoked); gets a mobile eID the app library enrols with and reports it lost (OCSP revoked)', { skip: browserUnavailable() }, async () => {
    // An employee with one service identity, in an organisation that has a function object.
    const [who] = await context.db.query<{ personnummer: string; hsaId: string; organisation: string; object: string; dns: string }>(
      `select p.personnummer, min(s.hsa_id) as "hsaId", min(s.organisation_hsa_id) as organisation, min(f.hsa_id) as object, min(f.dns_names[1]) as dns
         from directory_person p join directory_service_identity s on s.person_id = p.id join directory_function_object f on f.organisation_hsa_id = s.organisation_hsa_id
        where not p.protected_identity and not p.deceased and p.personnummer < '2000' and f.valid_to is null and s.valid_to is null
        group by p.personnummer having count(distinct s.hsa_id) = 1 order by p.personnummer limit 1`,
    );
    assert.ok(who, 'the demo region has an employee in an organisation with a function object');
    const operator = { operator: 'test' };
    await appointRole(context.db, operator, { holder: who.hsaId, role: 'function-certificate-orderer', organisation: who.organisation, unit: null, trainedOn: null }, new Date());
    // Domain validation and authorisation do not reach the PKI.
    const ctx = { db: context.db, pki: undefined as never, now: () => new Date() };
    await validateDomain(ctx, operator, { organisation: who.organisation, domain: who.dns.split('.').slice(1).join('.'), method: 'dns-txt', evidence: 'TXT tillit-validation', validUntil: new Date(Date.now() + 30 * 86_400_000) });
    await authoriseOrderer(ctx, operator, who.object, who.hsaId);

    browser = await launchChromium();
    const holder = eidHolder({ personalIdentityNumber: who.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' })).newPage();
    const problems: string[] = [];
    page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
    await page.goto(`${base}/portal`);
    await page.getByRole('link', { name: 'Logga in med SITHS eID' }).click();
    await page.getByRole('button', { name: 'SITHS eID på annan enhet' }).click();
    await page.waitForURL(/\/wait$/);
    const uid = new URL(page.url()).pathname.split('/')[3]!;
    const pending = JSON.parse((await context.ephemeral.get(`idp:pending:${uid}`))!) as { qrStartToken: string; qrStartSecret: string; startedAt: number };
    const app = { baseUrl: base, ca: system.tls.ca };
    const challenge = (await postJson(app, 'app/v1/claim', { qr: qrContent(pending.qrStartToken, pending.qrStartSecret, Math.floor((Date.now() - pending.startedAt) / 1000)) })) as Challenge;
    await postJson(app, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, ...holder.answer(challenge) });
    await page.waitForURL(`${base}/portal`);

    await page.goto(`${base}/portal/function-certificates`);
    const csrPem = opensslCsr(files, 'browser', { subject: `/CN=browser/serialNumber=${who.object}`, san: `DNS:${who.dns}` });
    await page.locator('#object').selectOption(who.object);
    await page.locator('#profile').selectOption('function-server');
    await page.locator('#csr').fill(csrPem);
    await page.getByRole('button', { name: 'Beställ' }).click();
    const flash = (await page.locator('.ds-alert').first().textContent()) ?? '';
    const serial = /Certifikatet är utfärdat: ([0-9a-f]+)/.exec(flash)?.[1];
    assert.ok(serial, flash);
    const pem = await (await page.request.get(`${base}/portal/function-certificates/${serial}.pem`)).text();
    files.file('browser-chain.pem', pem);
    files.file('browser-root.pem', pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)!.at(-1)!);
    assert.match(openssl(['verify', '-CAfile', files.path('browser-root.pem'), '-untrusted', files.path('browser-chain.pem'), files.path('browser-chain.pem')]).output, /browser-chain\.pem: OK/);

    await page.getByRole('link', { name: 'Mina sidor' }).click();
    assert.match((await page.locator('main').textContent()) ?? '', /Du har inga kort/);

    // Mina sidor with cards as hand-out leaves them (the card lifecycle is tested on its own): an ordinary card with a certificate, and a reserve card.
    const pki = pkiFrom(new Map(system.parts.map((p) => [p.name, p])));
    const issued = await pki.issueWithNewKey('person-auth-hsa-loa2', { commonName: 'T P', givenName: 'T', surname: 'P', serialNumber: who.hsaId });
    const card = async (kind: string) =>
      (await context.db.query<{ id: number }>(
        `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, activated_by, activated_at, updated_at)
           values ($1, 2, $2, $3, $4, 'active', 'test', now(), 'test', now(), now()) returning id`,
        [kind, who.personnummer, who.hsaId, who.organisation],
      ))[0]!.id;
    const ordinary = await card('ordinary');
    const reserve = await card('reserve');
    await context.db.query(`insert into portal_card_certificate (card_id, slot, serial, profile) values ($1, 'auth-hsa', $2, 'person-auth-hsa-loa2')`, [ordinary, issued.serial]);
    await page.reload();
    const section = (id: number) => page.locator('section', { hasText: `Kort ${id} ·` });
    await section(reserve).getByRole('button', { name: 'Förläng reservkortet (en gång)' }).click();
    assert.match((await page.locator('.ds-alert').first().textContent()) ?? '', /Reservkortet är förlängt till/);
    assert.equal(await section(reserve).getByRole('button', { name: 'Förläng reservkortet (en gång)' }).count(), 0);
    await section(ordinary).getByRole('button', { name: 'Anmäl förlorat – spärra nu' }).click();
    assert.match((await page.locator('.ds-alert').first().textContent()) ?? '', new RegExp(`Kortet är spärrat: ${issued.serial}`));
    assert.match((await section(ordinary).textContent()) ?? '', /revoked/);
    // OpenSSL asks the running OCSP responder: revoked, key compromise.
    files.file('card.pem', issued.certificatePem);
    files.file('card-issuer.pem', issued.chainPem[0]!);
    files.file('card-root.pem', issued.chainPem.at(-1)!);
    const ocsp = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('card-issuer.pem'), '-CAfile', files.path('card-root.pem'), '-cert', files.path('card.pem'), '-resp_text']);
    assert.match(ocsp.output, /Response verify OK/, ocsp.output);
    assert.match(ocsp.output, /card\.pem: revoked/);
    assert.match(ocsp.output, /Revocation Reason: keyCompromise/);

    // A mobile eID: the code Mina sidor shows (text and a QR image Chromium renders) enrols the eID app library; then reported lost.
    await page.getByRole('button', { name: 'Skaffa ett mobilt eID' }).click();
    const code = (await page.locator('#tillit-mine-enrolment-code').textContent()) ?? '';
    assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    assert.ok(await page.locator('#tillit-mine-enrolment-qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), 'the QR image is shown');
    const keys = await openKeyStore(files.path('app-keys'));
    const enrolled = await enrollMobileEid(keys, '246810', (csr) => enrolment.redeem(code, csr, 'test phone'));
    await page.getByRole('link', { name: 'Tillbaka till Mina sidor' }).click();
    const row = page.locator('tr', { hasText: 'test phone' });
    assert.match((await row.textContent()) ?? '', /Aktiv/);
    await row.getByRole('button', { name: 'Anmäl förlorat – spärra nu' }).click();
    assert.match((await page.locator('.ds-alert').first().textContent()) ?? '', /Det mobila eID:t är spärrat/);
    assert.match((await page.locator('tr', { hasText: 'test phone' }).textContent()) ?? '', /Spärrad/);
    files.file('mobile.pem', enrolled.certificatePem);
    files.file('mobile-issuer.pem', keys.list()[0]!.chainPem[0]!);
    files.file('mobile-root.pem', keys.list()[0]!.chainPem.at(-1)!);
    const mobileOcsp = await opensslAsync(['ocsp', '-timeout', '10', '-url', `${system.httpUrl}/ocsp`, '-issuer', files.path('mobile-issuer.pem'), '-CAfile', files.path('mobile-root.pem'), '-cert', files.path('mobile.pem'), '-resp_text']);
    assert.match(mobileOcsp.output, /Response verify OK/, mobileOcsp.output);
    assert.match(mobileOcsp.output, /mobile\.pem: revoked/);
    assert.match(mobileOcsp.output, /Revocation Reason: keyCompromise/);
    assert.deepEqual(problems, []);
    assert.equal((await verifyAudit(context.db)).ok, true);
  });
});
