import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { startTestSystem } from './support/system.ts';

const SCREENSHOTS = new URL('../.tmp/screenshots/', import.meta.url).pathname;

describe('start page in Chromium', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let browser: Browser;
  let context: BrowserContext;
  const problems: string[] = [];

  before(async () => {
    system = await startTestSystem();
    browser = await launchChromium();
    // The test trusts nothing but what the server presents; the dev certificate is self-signed.
    context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE' });
    context.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    context.on('weberror', (error) => problems.push(error.error().message));
    await mkdir(SCREENSHOTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
  });

  it('renders in Swedish with the design system applied and no CSP violations', async () => {
    const page = await context.newPage();
    const response = await page.goto(`${system.httpsUrl}/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.getAttribute('html', 'lang'), 'sv');
    assert.equal(await page.title(), 'Start – Tillit');
    assert.equal(await page.locator('h1').textContent(), 'Tillit');
    // Designsystemet's tokens are present only if its style sheets loaded under the CSP.
    const token = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--ds-color-accent-base-default').trim());
    assert.notEqual(token, '', 'design system tokens missing');
    const headerBorder = await page.evaluate(() => getComputedStyle(document.querySelector('.tillit-header')!).borderBottomStyle);
    assert.equal(headerBorder, 'solid', 'site style sheet not applied');
    await page.screenshot({ path: `${SCREENSHOTS}start-sv.png`, fullPage: true });
    assert.deepEqual(problems, []);
  });

  it('switches to English with the language link and remembers the choice', async () => {
    const page = await context.newPage();
    await page.goto(`${system.httpsUrl}/`);
    await page.getByRole('link', { name: 'In English' }).click();
    await page.waitForURL(/lang=en/);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.getByRole('heading', { level: 2 }).first().textContent(), 'Running parts');
    await page.goto(`${system.httpsUrl}/`);
    assert.equal(await page.getAttribute('html', 'lang'), 'en', 'the cookie should keep English');
    await page.screenshot({ path: `${SCREENSHOTS}start-en.png`, fullPage: true });
  });

  it('can be used from the keyboard: the first Tab reaches the skip link, which moves focus to the content', async () => {
    const page = await context.newPage();
    await page.goto(`${system.httpsUrl}/?lang=sv`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Hoppa till innehållet');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  });

  it('refuses to be shown inside another site’s frame', async () => {
    const page = await context.newPage();
    await page.setContent(`<iframe src="${system.httpsUrl}/"></iframe>`, { waitUntil: 'load' });
    const frame = page.frames()[1];
    assert.ok(frame, 'the iframe exists');
    // Chromium replaces a frame that frame-ancestors forbids with its own error page.
    assert.match(frame.url(), /^chrome-error:/);
  });
});
