import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserUnavailable, launchChromium } from './support/browser.ts';
import { startTestSystem } from './support/system.ts';
import { postJson } from '../src/app/index.ts';
import { qrContent, type Challenge } from '../src/authn/index.ts';
import { createDirectoryPart } from '../src/directory/index.ts';
import { createOidcPart } from '../src/idp/oidc/index.ts';
import { eidHolder, freePort, holdersVerifier, testAuthnPart, type EidHolder } from '../src/idp/oidc/test-support.ts';
import { createPkiPart } from '../src/pki/index.ts';
import { createPortalPart } from '../src/portal/index.ts';
import type { PartContext, PartFactory } from '../src/server/index.ts';

const SCREENSHOTS = new URL('../.tmp/screenshots/', import.meta.url).pathname;

interface Staff {
  readonly personnummer: string;
  readonly hsaId: string;
}

describe('eID portal reports in Chromium: table, chart and CSV download', { skip: browserUnavailable() }, () => {
  let system: Awaited<ReturnType<typeof startTestSystem>>;
  let context: PartContext;
  let browser: Browser;
  let base: string;
  let issuer: Staff;
  let organisation: string;
  const holders: EidHolder[] = [];
  const problems: string[] = [];
  const hostile = '=cmd|"/c calc"!A1';
  // What the test writes into the organisation: ordered test cards per month of 2026.
  const perMonth: Record<string, number> = { '2026-01': 2, '2026-02': 1, '2026-03': 3 };

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
    system = await startTestSystem({ server: { host: '127.0.0.1', httpsPort: port, httpPort: 0, publicBaseUrl: base }, directory: { demo: { persons: 40 } }, oidc: { encryptionKey: Buffer.alloc(32, 6).toString('base64') } }, parts);
    browser = await launchChromium();
    issuer = (
      await context.db.query<Staff>(
        `select p.personnummer, r.holder_hsa_id as "hsaId" from portal_role_assignment r join directory_service_identity s on s.hsa_id = r.holder_hsa_id join directory_person p on p.id = s.person_id where r.role = 'responsible-issuer' order by r.id limit 1`,
      )
    )[0]!;
    organisation = (await context.db.query<{ o: string }>(`select organisation_hsa_id as o from portal_role_assignment where holder_hsa_id = $1`, [issuer.hsaId]))[0]!.o;
    const people = await context.db.query<Staff>(`select p.personnummer, s.hsa_id as "hsaId" from directory_service_identity s join directory_person p on p.id = s.person_id where s.organisation_hsa_id = $1 and not p.protected_identity order by s.hsa_id limit 10`, [organisation]);
    let i = 0;
    for (const [month, n] of Object.entries(perMonth)) {
      for (let k = 0; k < n; k++, i++) {
        await context.db.query(
          `insert into portal_card (kind, loa, personnummer, holder_hsa_id, organisation_hsa_id, status, ordered_by, ordered_at, updated_at) values ('test', null, $1, $2, $3, 'ordered', 't', $4, $4)`,
          [people[i]!.personnummer, i === 0 ? hostile : people[i]!.hsaId, organisation, `${month}-1${k}T10:00:00Z`],
        );
      }
    }
  });
  after(async () => {
    await browser?.close();
    await system?.stop();
  });

  async function signIn(who: Staff): Promise<Page> {
    const holder = eidHolder({ personalIdentityNumber: who.personnummer, givenName: 'T', surname: 'P' });
    holders.push(holder);
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true, locale: 'sv-SE', acceptDownloads: true })).newPage();
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
    await page.waitForURL((url) => url.pathname === '/portal' || (url.pathname.includes('/interaction/') && !url.pathname.endsWith('/wait')));
    if (new URL(page.url()).pathname !== '/portal') {
      await page.locator(`input[name="choice"][value="${who.hsaId}"]`).check();
      await page.getByRole('button', { name: 'Fortsätt' }).click();
      await page.waitForURL(`${base}/portal`);
    }
    return page;
  }

  it('the issuer reaches the reports from the portal, runs the event report per month, sees the chart and the table, and downloads the CSV', async () => {
    const page = await signIn(issuer);
    await page.getByRole('link', { name: 'Rapporter' }).first().click();
    await page.waitForURL(`${base}/portal/reports`);
    await page.getByLabel('Händelser (historik)').check();
    await page.getByLabel('Organisation').selectOption(organisation);
    await page.getByLabel('Från och med').fill('2026-01-01');
    await page.getByLabel('Till och med').fill('2026-03-31');
    await page.getByLabel('Per period').selectOption('month');
    await page.getByLabel('typ', { exact: true }).uncheck();
    await page.getByLabel(/^händelse/).check();
    // Keyboard only: the submit button is reached and pressed without the mouse.
    await page.getByRole('button', { name: 'Visa rapporten' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/portal\/reports\?report=events/);

    await mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: `${SCREENSHOTS}portal-reports-sv-SE.png`, fullPage: true });
    const table = page.locator('table#report-table');
    const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(rows, Object.entries(perMonth).map(([month, n]) => [month, 'beställt', String(n)]));
    assert.equal(await table.locator('tbody td[data-code="ordered"]').count(), 3, 'the code stays beside the Swedish label');
    assert.equal(await table.locator('[data-total]').textContent(), String(Object.values(perMonth).reduce((a, b) => a + b)));
    const chart = page.getByRole('img', { name: /Händelser \(historik\)/ });
    assert.equal(await chart.getAttribute('aria-describedby'), 'report-table');
    assert.equal(await chart.getAttribute('data-chart-bars'), '3', 'one bar per month of the range');
    assert.equal(await chart.locator('rect.tillit-chart-bar').count(), 3);
    assert.ok(((await chart.locator('rect.tillit-chart-bar').first().getAttribute('width')) ?? '0') !== '0');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Ladda ner som CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^tillit-events-counts-SE\w+-\w+-2026-01-01-2026-03-31\.csv$/);
    const csv = await readFile((await download.path())!, 'utf8');
    assert.equal(csv, ['period,event,count', ...Object.entries(perMonth).map(([m, n]) => `${m},ordered,${n}`), ''].join('\r\n'));

    // In English: the same report, labels and values in English.
    await page.goto(`${page.url()}&lang=en`);
    assert.equal(await page.getByRole('heading', { level: 1 }).textContent(), 'Reports');
    assert.equal(await page.locator('table#report-table tbody td[data-code="ordered"]').first().textContent(), 'ordered');
    assert.ok(await page.getByRole('link', { name: 'Download as CSV' }).isVisible());

    // The listing: the hostile holder field is shown as text and downloaded neutralised.
    await page.goto(`${base}/portal/reports?report=status&organisation=${organisation}&view=listing&lang=sv`);
    assert.ok(((await page.locator('table#report-table').textContent()) ?? '').includes(hostile));
    const [listing] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Ladda ner som CSV' }).click()]);
    const listed = await readFile((await listing.path())!, 'utf8');
    assert.ok(listed.includes(`"'=cmd|""/c calc""!A1"`), listed);

    // Another organisation's report is refused on the server, with the reason.
    const other = (await context.db.query<{ o: string }>(`select hsa_id as o from directory_organisation where hsa_id <> $1 limit 1`, [organisation]))[0]!.o;
    const refused = await page.goto(`${base}/portal/reports?report=status&organisation=${other}`);
    assert.equal(refused!.status(), 403);
    assert.match((await page.getByRole('alert').textContent()) ?? '', /report\.read/);
    const refusedCsv = await page.request.get(`${base}/portal/reports.csv?report=status&organisation=${other}`);
    assert.equal(refusedCsv.status(), 403);
    const bad = await page.goto(`${base}/portal/reports?report=events&organisation=${organisation}&from=2026-05-01&to=2026-01-01`);
    assert.equal(bad!.status(), 400);
    assert.match((await page.getByRole('alert').textContent()) ?? '', /^from: 2026-05-01 is after to/);
    // The refused pages' own 403 and 400 are logged as failed loads; anything else (a CSP violation) is a fault.
    assert.deepEqual(problems.filter((p) => !/^Failed to load resource: the server responded with a status of (403|400)/.test(p)), [], 'no console errors');
  });
});
