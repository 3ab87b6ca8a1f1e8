import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import qrcode from 'qrcode-generator';
import type { PersonView } from '../directory/index.ts';
import { sendPage } from '../server/index.ts';
import type { EphemeralStore } from '../store/index.ts';
import { ASSET_PATHS, defineMessages, html, pickLocale, renderPage, type Locale, type SafeHtml } from '../web/index.ts';
import { summarize, type CertificateSummary } from './card-check.ts';
import type { CardLoginService } from './card-login.ts';
import { cardMessages, cardRefusalAdvice, shortDate } from './card-pages.ts';
import type { OrderService, OrderTokens } from './orders.ts';
import { qrContent } from './qr.ts';

const sv = {
  'test.title': 'Testa din e-legitimation',
  'test.intro': 'Här kan du prova att logga in med ditt SITHS-kort eller med SITHS eID-appen och se vad som fungerar. Ingen e-tjänst får veta något om testet.',
  'test.card': 'SITHS-kort på denna enhet',
  'test.card.start': 'Testa kortet',
  'test.app': 'SITHS eID-appen',
  'test.app.start': 'Testa appen',
  'test.app.scan': 'Öppna SITHS eID-appen och skanna QR-koden.',
  'test.app.qrAlt': 'QR-kod att skanna med SITHS eID-appen',
  'test.app.sameDevice': 'Öppna SITHS eID på denna enhet',
  'test.app.continue': 'Fortsätt',
  'test.app.pending': 'Väntar på appen.',
  'test.app.userSign': 'Skriv din PIN-kod i appen.',
  'test.app.failed': 'Appen kunde inte legitimera dig',
  'test.works': 'Din e-legitimation fungerar',
  'test.certificate': 'Certifikat',
  'test.validTo': 'Giltigt till',
  'test.expiresSoon': 'Certifikatet går ut om {days} dagar. Beställ ett nytt i god tid.',
  'test.revocation': 'Spärrstatus',
  'test.revocation.good': 'Inte spärrat (kontrollerat {at})',
  'test.loa': 'Tillitsnivå',
  'test.directory': 'I katalogen',
  'test.directory.unknown': 'Katalogen känner inte till dig. Inloggningen fungerar, men e-tjänster får inga uppgifter om dina uppdrag. Kontakta din ID-administratör.',
  'test.directory.known': '{name}, personnummer {personnummer}',
  'test.commissions': 'Dina medarbetaruppdrag',
  'test.noCommissions': 'Du har inga medarbetaruppdrag i katalogen.',
  'test.again': 'Testa igen',
} as const;
type Key = keyof typeof sv;
const en: Record<Key, string> = {
  'test.title': 'Test your eID',
  'test.intro': 'Try logging in with your SITHS card or with the SITHS eID app and see what works. No e-service learns anything about the test.',
  'test.card': 'SITHS card on this device',
  'test.card.start': 'Test the card',
  'test.app': 'The SITHS eID app',
  'test.app.start': 'Test the app',
  'test.app.scan': 'Open the SITHS eID app and scan the QR code.',
  'test.app.qrAlt': 'QR code to scan with the SITHS eID app',
  'test.app.sameDevice': 'Open SITHS eID on this device',
  'test.app.continue': 'Continue',
  'test.app.pending': 'Waiting for the app.',
  'test.app.userSign': 'Enter your PIN in the app.',
  'test.app.failed': 'The app could not identify you',
  'test.works': 'Your eID works',
  'test.certificate': 'Certificate',
  'test.validTo': 'Valid until',
  'test.expiresSoon': 'The certificate expires in {days} days. Order a new one in good time.',
  'test.revocation': 'Revocation status',
  'test.revocation.good': 'Not revoked (checked {at})',
  'test.loa': 'Level of assurance',
  'test.directory': 'In the directory',
  'test.directory.unknown': 'The directory does not know you. Logging in works, but e-services get nothing about your commissions. Contact your ID administrator.',
  'test.directory.known': '{name}, personal identity number {personnummer}',
  'test.commissions': 'Your commissions',
  'test.noCommissions': 'You have no commissions in the directory.',
  'test.again': 'Test again',
};
const messages = defineMessages<Key>({ sv, en });

/** Expiry within this many days is highlighted. */
const EXPIRY_WARNING_DAYS = 30;
const TEST_COOKIE = 'tillit_eid_test';
const REQUESTER = { clientId: 'tillit:eid-test', displayName: 'Testa din e-legitimation' };

export interface TestEidDependencies {
  readonly publicBaseUrl: string;
  readonly store: EphemeralStore;
  readonly orders: OrderService;
  readonly cards?: CardLoginService;
  /** The person behind a personnummer, with service identities and commissions (the directory). */
  readonly loadPerson: (personnummer: string) => Promise<PersonView | null>;
  readonly now: () => Date;
}

/** What a successful test shows: the eID's certificate, LoA, revocation and the directory's view of the person. */
interface EidReport {
  readonly certificate: CertificateSummary;
  readonly loa: number;
  readonly revocationEvidence: unknown;
  readonly personnummer: string | undefined;
}

/**
 * `/authn/test`: a public self-test (as SITHS has). The person tries card
 * login (the same rolling mTLS hosts as the IdP) and app login (an order on
 * the order service, QR page) and sees the certificate, its expiry, its
 * revocation status, the LoA and what the directory knows.
 */
export function testEidRoutes(deps: TestEidDependencies) {
  const key = (kind: 'card' | 'app', id: string) => `authn:eidtest:${kind}:${id}`;
  return async (app: FastifyInstance) => {
    // The forms here send nothing but the button.
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));

    app.get('/authn/test', async (request, reply) => {
      const locale = pickLocale(request);
      const t = messages(locale);
      return sendPage(
        reply,
        page(locale, request.url, html`<p class="ds-paragraph">${t('test.intro')}</p>
${deps.cards ? html`<h2 class="ds-heading" data-size="md">${t('test.card')}</h2><p><a class="ds-button" data-variant="primary" href="/authn/test/card/start">${t('test.card.start')}</a></p>` : html``}
<h2 class="ds-heading" data-size="md">${t('test.app')}</h2>
<form method="post" action="/authn/test/app/start"><button class="ds-button" data-variant="primary" type="submit">${t('test.app.start')}</button></form>`),
      );
    });

    app.get('/authn/test/card/start', async (request, reply) => {
      if (!deps.cards) return reply.redirect('/authn/test', 303);
      const id = testId(request, reply);
      const { requestId, startPath } = await deps.cards.begin({ requester: REQUESTER, returnTo: `${deps.publicBaseUrl}/authn/test/card` });
      await deps.store.set(key('card', id), JSON.stringify({ requestId, startPath }), 600_000);
      return reply.redirect(startPath, 303);
    });

    app.get<{ Querystring: { card?: string } }>('/authn/test/card', async (request, reply) => {
      const locale = pickLocale(request);
      const id = testId(request, reply);
      const raw = await deps.store.get(key('card', id));
      if (!raw || !deps.cards) return reply.redirect('/authn/test', 303);
      const pending = JSON.parse(raw) as { requestId: string; startPath: string };
      const outcome = await deps.cards.redeem(request.query.card, pending.requestId);
      if (!outcome) return reply.redirect('/authn/test', 303);
      if (!outcome.ok) return sendPage(reply, page(locale, request.url, html`${cardRefusalAdvice(locale, outcome, pending.startPath)}${againLink(locale)}`));
      const report: EidReport = { certificate: outcome.login.certificate, loa: outcome.login.loa, revocationEvidence: outcome.login.revocationEvidence, personnummer: outcome.login.user.personalIdentityNumber };
      return sendPage(reply, page(locale, request.url, await reportHtml(locale, report)));
    });

    app.post('/authn/test/app/start', async (request, reply) => {
      const id = testId(request, reply);
      const tokens = await deps.orders.start({ kind: 'auth', requester: REQUESTER, endUserIp: request.ip, userVisibleText: 'Test av e-legitimation' });
      await deps.store.set(key('app', id), JSON.stringify({ ...tokens, startedAt: deps.now().getTime() }), 600_000);
      return reply.redirect('/authn/test/app', 303);
    });

    app.get('/authn/test/app', async (request, reply) => {
      const locale = pickLocale(request);
      const t = messages(locale);
      const pending = await pendingOrder(request, reply);
      if (!pending) return reply.redirect('/authn/test', 303);
      const autoStart = `tillit-eid:///?autostarttoken=${encodeURIComponent(pending.autoStartToken)}&redirect=${encodeURIComponent('/authn/test/app')}`;
      return sendPage(
        reply,
        page(locale, request.url, html`<div id="tillit-eid-test" data-status-url="/authn/test/app/status" data-on-end="poll">
<p class="ds-paragraph">${t('test.app.scan')}</p>
<p><img id="tillit-qr" src="${qrImage(pending, deps.now().getTime())}" alt="${t('test.app.qrAlt')}" width="240" height="240"></p>
<p class="ds-paragraph" id="tillit-hint" role="status" aria-live="polite">${t('test.app.pending')}</p>
<p><a class="ds-button" data-variant="secondary" href="${autoStart}">${t('test.app.sameDevice')}</a></p>
<p><a class="ds-button" data-variant="secondary" id="tillit-continue" data-without-script href="/authn/test/app/result">${t('test.app.continue')}</a></p>
</div>
<script src="${ASSET_PATHS.qrPoll}"></script>`),
      );
    });

    app.get('/authn/test/app/status', async (request, reply) => {
      const locale = pickLocale(request);
      const pending = await pendingOrder(request, reply);
      if (!pending) return reply.code(404).send({ status: 'gone', next: '/authn/test' });
      const result = await deps.orders.collect(pending.orderRef, REQUESTER.clientId);
      if (result.status === 'pending') return { status: 'pending', hint: messages(locale)(result.hintCode === 'userSign' ? 'test.app.userSign' : 'test.app.pending'), qr: qrImage(pending, deps.now().getTime()) };
      return { status: result.status, next: '/authn/test/app/result' };
    });

    app.get('/authn/test/app/result', async (request, reply) => {
      const locale = pickLocale(request);
      const pending = await pendingOrder(request, reply);
      if (!pending) return reply.redirect('/authn/test', 303);
      const result = await deps.orders.collect(pending.orderRef, REQUESTER.clientId);
      if (result.status === 'pending') return reply.redirect('/authn/test/app', 303);
      if (result.status === 'failed') {
        const t = messages(locale);
        return sendPage(reply, page(locale, request.url, html`<div class="ds-alert" data-color="warning" role="alert" id="tillit-app-failed"><h2 class="ds-heading" data-size="sm">${t('test.app.failed')}</h2><p class="ds-paragraph">${result.reason ?? result.hintCode}</p></div>${againLink(locale)}`));
      }
      const completion = result.completionData;
      const report: EidReport = { certificate: summarize(new x509.X509Certificate(completion.certificatePem)), loa: completion.loa, revocationEvidence: completion.revocationEvidence, personnummer: completion.user.personalIdentityNumber };
      return sendPage(reply, page(locale, request.url, await reportHtml(locale, report)));
    });
  };

  async function pendingOrder(request: FastifyRequest, reply: FastifyReply): Promise<(OrderTokens & { startedAt: number }) | null> {
    const raw = await deps.store.get(key('app', testId(request, reply)));
    return raw ? (JSON.parse(raw) as OrderTokens & { startedAt: number }) : null;
  }

  async function reportHtml(locale: Locale, report: EidReport): Promise<SafeHtml> {
    const t = messages(locale);
    const c = cardMessages(locale);
    const daysLeft = Math.floor((new Date(report.certificate.notAfter).getTime() - deps.now().getTime()) / 86_400_000);
    const evidence = (report.revocationEvidence ?? {}) as { checkedAt?: string };
    const person = report.personnummer ? await deps.loadPerson(report.personnummer) : null;
    const commissions = person?.serviceIdentities.flatMap((s) => s.commissions.map((m) => ({ ...m, serviceIdentity: s.hsaId }))) ?? [];
    return html`<div class="ds-alert" data-color="success" role="status" id="tillit-eid-works"><h2 class="ds-heading" data-size="sm">${t('test.works')}</h2></div>
<dl class="tillit-facts" id="tillit-eid-report">
<dt>${t('test.certificate')}</dt><dd>${report.certificate.subject}</dd>
<dt>${c('card.issuer')}</dt><dd>${report.certificate.issuer}</dd>
<dt>${t('test.validTo')}</dt><dd id="tillit-eid-expiry">${shortDate(locale, report.certificate.notAfter)}</dd>
<dt>${t('test.revocation')}</dt><dd id="tillit-eid-revocation">${t('test.revocation.good').replace('{at}', evidence.checkedAt ? new Date(evidence.checkedAt).toLocaleString(locale === 'sv' ? 'sv-SE' : 'en-GB', { timeZone: 'Europe/Stockholm' }) : '—')}</dd>
<dt>${t('test.loa')}</dt><dd id="tillit-eid-loa">LoA ${report.loa}</dd>
<dt>${t('test.directory')}</dt><dd id="tillit-eid-person">${person ? t('test.directory.known').replace('{name}', person.displayName ?? `${person.givenName} ${person.surname}`).replace('{personnummer}', person.personnummer) : t('test.directory.unknown')}</dd>
</dl>
${daysLeft <= EXPIRY_WARNING_DAYS ? html`<div class="ds-alert" data-color="warning" role="alert" id="tillit-eid-expires-soon"><p class="ds-paragraph">${t('test.expiresSoon').replace('{days}', String(Math.max(0, daysLeft)))}</p></div>` : html``}
${person
  ? html`<h2 class="ds-heading" data-size="md">${t('test.commissions')}</h2>
${commissions.length
  ? html`<ul class="ds-list" id="tillit-eid-commissions">${commissions.map((m) => html`<li>${m.name} – ${m.purpose} (${m.hsaId}), ${m.careUnit.name}, ${m.careProvider.name}</li>`)}</ul>`
  : html`<p class="ds-paragraph">${t('test.noCommissions')}</p>`}`
  : html``}
${againLink(locale)}`;
  }

  function againLink(locale: Locale): SafeHtml {
    return html`<p><a class="ds-link" href="/authn/test">${messages(locale)('test.again')}</a></p>`;
  }

  function page(locale: Locale, currentUrl: string, body: SafeHtml): string {
    const t = messages(locale);
    return renderPage({ locale, title: t('test.title'), currentUrl, body: html`<h1 class="ds-heading" data-size="lg">${t('test.title')}</h1>${body}` });
  }
}

/** The browser's test id, kept in a cookie for the pages of one test (made on first use). */
function testId(request: FastifyRequest, reply: FastifyReply): string {
  for (const pair of request.headers.cookie?.split(';') ?? []) {
    const [name, value] = pair.trim().split('=');
    if (name === TEST_COOKIE && value && /^[A-Za-z0-9_-]{32}$/.test(value)) return value;
  }
  const id = randomBytes(24).toString('base64url');
  reply.header('set-cookie', `${TEST_COOKIE}=${id}; Path=/authn/test; HttpOnly; Secure; SameSite=Lax`);
  return id;
}

function qrImage(pending: OrderTokens & { startedAt: number }, now: number): string {
  const code = qrcode(0, 'M');
  code.addData(qrContent(pending.qrStartToken, pending.qrStartSecret, Math.max(0, Math.floor((now - pending.startedAt) / 1000))));
  code.make();
  return `data:image/svg+xml;base64,${Buffer.from(code.createSvgTag({ cellSize: 4, margin: 4, scalable: true })).toString('base64')}`;
}

