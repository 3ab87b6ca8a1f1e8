import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import qrcode from 'qrcode-generator';
import { approveOrder, enrollMobileEid, enrollWithCode, openKeyStore, type KeyStore } from '../src/app/index.ts';
import { authnFrom, createAuthnPart } from '../src/authn/index.ts';
import { createDirectoryPart, listOrganisationPersons, PUBLIC_VIEWER, type PersonSummary } from '../src/directory/index.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { startTestSystem } from './support/system.ts';

/** The self-service stand-in: log in with an eID through the authentication service's own orders, get an enrolment code. */
describe('enrolment code page in Chromium', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let browser: Browser;
  let context: BrowserContext;
  let root: string;
  let keys: KeyStore;
  let person: PersonSummary;
  const problems: string[] = [];
  const PIN = '192837';

  before(async () => {
    system = await startTestSystem({ demo: { seed: true }, directory: { demo: { persons: 20 } } }, new Map([['pki', createPkiPart], ['directory', createDirectoryPart], ['authn', createAuthnPart]]));
    const authn = authnFrom(new Map(system.parts.map((p) => [p.name, p])));
    [person] = (await listOrganisationPersons(system.db, 'SE2321000008-0001', PUBLIC_VIEWER, 1)) as [PersonSummary];
    root = await mkdtemp(join(tmpdir(), 'tillit-enrol-page-'));
    keys = await openKeyStore(join(root, 'phone-1'));
    const { code } = await authn.enrolment.createCode(person.personnummer, 'test operator');
    await enrollMobileEid(keys, PIN, (csr) => authn.enrolment.redeem(code, csr));
    browser = await launchChromium();
    context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' });
    context.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    context.on('weberror', (error) => problems.push(error.error().message));
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
    await rm(root, { recursive: true, force: true });
  });

  const server = () => ({ baseUrl: system.httpsUrl, ca: system.tls.ca });

  it('logs the person in with the app and shows a one-time code as text and QR, which a second phone enrols with', async () => {
    const page = await context.newPage();
    await page.goto(`${system.httpsUrl}/authn/enrol`);
    await page.getByRole('button', { name: 'Logga in med e-legitimation' }).click();
    const link = await page.locator('#tillit-same-device').getAttribute('href');
    assert.match(link!, /^tillit-eid:\/\/\/\?autostarttoken=/);
    await page.locator('#tillit-hint', { hasText: 'Väntar på att du startar appen.' }).waitFor();
    await approveOrder(server(), keys, { autoStartToken: new URL(link!).searchParams.get('autostarttoken')! }, { pin: PIN });
    const codeText = (await page.locator('#tillit-enrolment-code').textContent({ timeout: 10_000 }))!;
    assert.match(codeText, /^([0-9A-Z]{4}-){3}[0-9A-Z]{4}$/);
    const expected = qrcode(0, 'M');
    expected.addData(`tillit-enrol.${codeText.replaceAll('-', '')}`);
    expected.make();
    assert.equal(await page.locator('#tillit-enrolment-qr').getAttribute('src'), `data:image/svg+xml;base64,${Buffer.from(expected.createSvgTag({ cellSize: 4, margin: 4, scalable: true })).toString('base64')}`);
    assert.match((await page.locator('main').textContent())!, /Den gäller en gång/);

    const phone = await openKeyStore(join(root, 'phone-2'));
    const { certificatePem } = await enrollWithCode(server(), phone, codeText, '555666');
    assert.match(new X509Certificate(certificatePem).subject, new RegExp(`serialNumber=${person.personnummer}`));
    await page.reload();
    assert.equal(await page.locator('#tillit-enrolment-code').textContent(), codeText, 'the same code on reload, not a new one');
    assert.deepEqual(problems, [], 'no CSP violations or script errors');
  });

  it('says why when the login is declined, and offers a new attempt', async () => {
    // A new visitor: the first context's cookie would show its code again.
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await page.goto(`${system.httpsUrl}/authn/enrol?lang=en`);
    await page.getByRole('button', { name: 'Log in with an eID' }).click();
    const link = await page.locator('#tillit-same-device').getAttribute('href');
    await approveOrder(server(), keys, { autoStartToken: new URL(link!).searchParams.get('autostarttoken')! }, { pin: PIN, decline: true });
    await page.getByRole('alert').filter({ hasText: 'You cancelled in the app.' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.getByRole('button', { name: 'Try again' }).count(), 1);
    assert.equal(await page.locator('#tillit-enrolment-code').count(), 0);
  });
});
