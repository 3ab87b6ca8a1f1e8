import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import qrcode from 'qrcode-generator';
import { sendPage } from '../server/index.ts';
import type { EphemeralStore } from '../store/index.ts';
import { ASSET_PATHS, defineMessages, html, pickLocale, renderPage, type Locale } from '../web/index.ts';
import { EnrolmentError, type EnrolmentService } from './enrolment.ts';
import type { OrderService, PendingHint, FailedHint, Requester } from './orders.ts';
import { qrContent } from './qr.ts';

const PATH = '/authn/enrol';
const COOKIE = 'tillit_enrol';
/** The authentication service asks for the login itself: its own requester, not an IdP's. */
const REQUESTER: Requester = { clientId: 'tillit.enrolment', displayName: 'Tillit – mobilt eID' };

const messages = defineMessages({
  sv: {
    title: 'Skaffa mobilt eID',
    intro: 'Logga in med din e-legitimation (appen eller ditt kort i appen) för att få en engångskod. Med koden lägger du till ett mobilt eID i appen på din telefon.',
    start: 'Logga in med e-legitimation',
    scan: 'Skanna QR-koden med e-legitimationsappen.',
    sameDevice: 'Öppna appen på den här enheten',
    qrAlt: 'QR-kod för inloggning',
    continue: 'Fortsätt',
    noScript: 'Utan JavaScript: godkänn i appen och välj sedan Fortsätt.',
    retry: 'Försök igen',
    codeHeading: 'Din engångskod',
    codeFor: 'För {name}. Skanna QR-koden med appen, eller skriv in koden. Den gäller en gång, till {time}.',
    codeAlt: 'QR-kod med engångskoden',
    cli: 'Med kommandoradsappen:',
    refused: 'Ingen kod: {reason}',
    'hint.outstandingTransaction': 'Väntar på att du startar appen.',
    'hint.noClient': 'Väntar på att du startar appen.',
    'hint.started': 'Appen har startat men hittar ingen e-legitimation.',
    'hint.userSign': 'Skriv din PIN-kod i appen.',
    'hint.expiredTransaction': 'Tiden gick ut. Börja om.',
    'hint.certificateErr': 'E-legitimationen godtogs inte. Börja om.',
    'hint.userCancel': 'Du avbröt i appen.',
    'hint.cancelled': 'Inloggningen avbröts.',
    'hint.startFailed': 'Appen startade inte i tid. Börja om.',
  },
  en: {
    title: 'Get a mobile eID',
    intro: 'Log in with your eID (the app, or your card in the app) to get a one-time code. With the code you add a mobile eID to the app on your phone.',
    start: 'Log in with an eID',
    scan: 'Scan the QR code with the eID app.',
    sameDevice: 'Open the app on this device',
    qrAlt: 'QR code to log in',
    continue: 'Continue',
    noScript: 'Without JavaScript: approve in the app, then choose Continue.',
    retry: 'Try again',
    codeHeading: 'Your one-time code',
    codeFor: 'For {name}. Scan the QR code with the app, or type the code. It works once, until {time}.',
    codeAlt: 'QR code with the one-time code',
    cli: 'With the command-line app:',
    refused: 'No code: {reason}',
    'hint.outstandingTransaction': 'Waiting for you to start the app.',
    'hint.noClient': 'Waiting for you to start the app.',
    'hint.started': 'The app started but finds no eID.',
    'hint.userSign': 'Enter your PIN in the app.',
    'hint.expiredTransaction': 'Time ran out. Start again.',
    'hint.certificateErr': 'The eID was not accepted. Start again.',
    'hint.userCancel': 'You cancelled in the app.',
    'hint.cancelled': 'The login was cancelled.',
    'hint.startFailed': 'The app did not start in time. Start again.',
  },
});

type Visit =
  | { readonly state: 'login'; readonly orderRef: string; readonly autoStartToken: string; readonly qrStartToken: string; readonly qrStartSecret: string; readonly startedAt: number }
  | { readonly state: 'code'; readonly code: string; readonly qr: string; readonly name: string; readonly expiresAt: string }
  | { readonly state: 'refused'; readonly reason: string }
  | { readonly state: 'failed'; readonly hint: FailedHint };

export interface EnrolPageDependencies {
  readonly orders: OrderService;
  readonly enrolment: EnrolmentService;
  readonly ephemeral: EphemeralStore;
  readonly now: () => number;
  /** How long a visit is remembered: the login, then the code (15 minutes at most anyway). */
  readonly visitTtlMs: number;
}

/**
 * `/authn/enrol`: until the portal's self-service exists, a person logs in
 * here with an eID through this service's own order API (not the IdP) and
 * gets a mobile eID enrolment code as a QR code and as text. The visit lives
 * in the short-lived store under a random id in a cookie for this path only.
 */
export function enrolPageRoutes(deps: EnrolPageDependencies): FastifyPluginAsync {
  const visitKey = (id: string) => `authn:enrol-visit:${id}`;
  const visitOf = async (request: FastifyRequest): Promise<{ id: string; visit: Visit } | undefined> => {
    const id = cookieOf(request);
    const raw = id ? await deps.ephemeral.get(visitKey(id)) : null;
    return id && raw ? { id, visit: JSON.parse(raw) as Visit } : undefined;
  };

  /** Collects the login; a complete one becomes the code, exactly once whichever poll sees it first. */
  async function advance(request: FastifyRequest, id: string, visit: Visit): Promise<{ visit: Visit; hint?: PendingHint }> {
    if (visit.state !== 'login') return { visit };
    const result = await deps.orders.collect(visit.orderRef, REQUESTER.clientId);
    if (result.status === 'pending') return { visit, hint: result.hintCode };
    if (!(await deps.ephemeral.setIfAbsent(`authn:enrol-done:${visit.orderRef}`, '1', deps.visitTtlMs))) {
      const latest = await deps.ephemeral.get(visitKey(id));
      return { visit: latest ? (JSON.parse(latest) as Visit) : visit };
    }
    if (result.status === 'failed') {
      // Kept so that the page, reloaded, can say why and offer a new attempt.
      const failed: Visit = { state: 'failed', hint: result.hintCode };
      await deps.ephemeral.set(visitKey(id), JSON.stringify(failed), deps.visitTtlMs);
      return { visit: failed };
    }
    const user = result.completionData.user;
    let next: Visit;
    try {
      const code = await deps.enrolment.createCode(user.personalIdentityNumber ?? user.hsaId ?? '', `self-service:${user.personalIdentityNumber ?? user.hsaId}`);
      next = { state: 'code', code: code.code, qr: code.qr, name: user.name ?? code.personnummer, expiresAt: code.expiresAt.toISOString() };
      request.log.info({ decision: 'enrolment code handed out', personnummer: code.personnummer }, 'enrolment code made in self-service');
    } catch (error) {
      if (!(error instanceof EnrolmentError)) throw error;
      next = { state: 'refused', reason: error.message };
    }
    await deps.ephemeral.set(visitKey(id), JSON.stringify(next), deps.visitTtlMs);
    return { visit: next };
  }

  const render = (request: FastifyRequest, reply: FastifyReply, visit: Visit | undefined, hint?: PendingHint) => {
    const locale = pickLocale(request);
    return sendPage(reply, page(locale, request.url, visit, hint, deps.now()));
  };

  return async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));

    app.get(PATH, async (request, reply) => {
      const found = await visitOf(request);
      if (!found) return render(request, reply, undefined);
      const { visit, hint } = await advance(request, found.id, found.visit);
      return render(request, reply, visit, hint);
    });

    app.post(`${PATH}/start`, async (request, reply) => {
      const tokens = await deps.orders.start({ kind: 'auth', requester: REQUESTER, endUserIp: request.ip, requirements: { minimumLoa: 3 }, userVisibleText: messages('sv')('title') });
      const id = randomBytes(24).toString('base64url');
      const visit: Visit = { state: 'login', ...tokens, startedAt: deps.now() };
      await deps.ephemeral.set(visitKey(id), JSON.stringify(visit), deps.visitTtlMs);
      return reply.header('set-cookie', `${COOKIE}=${id}; Path=${PATH}; HttpOnly; Secure; SameSite=Lax; Max-Age=${Math.floor(deps.visitTtlMs / 1000)}`).redirect(PATH, 303);
    });

    /** What the QR page polls each second: a fresh QR code and the hint, or that the page should reload. */
    app.get(`${PATH}/status`, async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const found = await visitOf(request);
      if (!found) return { status: 'gone', reload: PATH };
      const { visit, hint } = await advance(request, found.id, found.visit);
      const t = messages(pickLocale(request));
      if (visit.state === 'failed') return { status: 'failed', hint: t(`hint.${visit.hint}`), reload: PATH };
      if (visit.state !== 'login') return { status: 'done', reload: PATH };
      return { status: 'pending', hint: t(`hint.${hint ?? 'outstandingTransaction'}`), qr: loginQr(visit, deps.now()) };
    });
  };
}

function cookieOf(request: FastifyRequest): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [name, value] = part.trim().split('=');
    if (name === COOKIE && value && /^[\w-]{32}$/.test(value)) return value;
  }
  return undefined;
}

function svgDataUrl(content: string): string {
  const code = qrcode(0, 'M');
  code.addData(content);
  code.make();
  return `data:image/svg+xml;base64,${Buffer.from(code.createSvgTag({ cellSize: 4, margin: 4, scalable: true })).toString('base64')}`;
}

function loginQr(visit: Extract<Visit, { state: 'login' }>, now: number): string {
  return svgDataUrl(qrContent(visit.qrStartToken, visit.qrStartSecret, Math.max(0, Math.floor((now - visit.startedAt) / 1000))));
}

function page(locale: Locale, currentUrl: string, visit: Visit | undefined, hint: PendingHint | undefined, now: number): string {
  const t = messages(locale);
  const heading = html`<h1 class="ds-heading" data-size="lg">${t('title')}</h1>`;
  if (!visit || visit.state === 'failed') {
    const failed = visit?.state === 'failed' ? visit.hint : undefined;
    return renderPage({
      locale,
      title: t('title'),
      currentUrl,
      body: html`${heading}
${failed ? html`<p class="ds-paragraph" role="alert">${t(`hint.${failed}`)}</p>` : ''}
<p class="ds-paragraph">${t('intro')}</p>
<form method="post" action="${PATH}/start"><button class="ds-button" data-variant="primary" type="submit">${failed ? t('retry') : t('start')}</button></form>`,
    });
  }
  if (visit.state === 'refused') {
    return renderPage({ locale, title: t('title'), currentUrl, body: html`${heading}<p class="ds-paragraph" role="alert">${t('refused').replace('{reason}', visit.reason)}</p>` });
  }
  if (visit.state === 'code') {
    const until = new Date(visit.expiresAt).toLocaleTimeString(locale === 'sv' ? 'sv-SE' : 'en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/Stockholm' });
    return renderPage({
      locale,
      title: t('codeHeading'),
      currentUrl,
      body: html`${heading}
<h2 class="ds-heading" data-size="md">${t('codeHeading')}</h2>
<p class="ds-paragraph">${t('codeFor').replace('{name}', visit.name).replace('{time}', until)}</p>
<p><img id="tillit-enrolment-qr" src="${svgDataUrl(visit.qr)}" alt="${t('codeAlt')}" width="240" height="240"></p>
<p class="ds-paragraph"><strong id="tillit-enrolment-code">${visit.code}</strong></p>
<p class="ds-paragraph">${t('cli')} <code>tillit app enroll --code ${visit.code} --pin …</code></p>`,
    });
  }
  const autoStart = `tillit-eid:///?autostarttoken=${encodeURIComponent(visit.autoStartToken)}&redirect=${encodeURIComponent(PATH)}`;
  return renderPage({
    locale,
    title: t('title'),
    currentUrl,
    body: html`${heading}
<div id="tillit-enrol" data-status-url="${PATH}/status" data-on-end="reload">
<p class="ds-paragraph">${t('scan')}</p>
<p><img id="tillit-qr" src="${loginQr(visit, now)}" alt="${t('qrAlt')}" width="240" height="240"></p>
<p class="ds-paragraph" id="tillit-hint" role="status" aria-live="polite">${t(`hint.${hint ?? 'outstandingTransaction'}`)}</p>
<p><a id="tillit-same-device" class="ds-button" data-variant="secondary" href="${autoStart}">${t('sameDevice')}</a></p>
<noscript><p class="ds-paragraph">${t('noScript')}</p></noscript>
<p id="tillit-continue" data-without-script><a class="ds-button" data-variant="secondary" href="${PATH}">${t('continue')}</a></p>
</div>
<script src="${ASSET_PATHS.qrPoll}"></script>`,
  });
}
