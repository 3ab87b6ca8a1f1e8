import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendPage } from '../server/index.ts';
import { pickLocale } from '../web/index.ts';
import { checkCardCertificate, type CardCheckOptions } from './card-check.ts';
import type { CardLoginService } from './card-login.ts';
import { cardExpiredPage, restartBrowserPage } from './card-pages.ts';
import { peerCertificatePem } from './client-certificate-listener.ts';

/** Counts this browser's card attempts; a session cookie, so it ends with the browser, as the certificate choices it stands for do. */
export const ATTEMPTS_COOKIE = 'tillit_card_attempts';

/**
 * `/authn/card/start` on the public HTTPS server: the next attempt of a card
 * login goes to a fresh rolling host, or after the last one the person is
 * told to restart the browser.
 */
export function cardStartRoutes(cards: CardLoginService) {
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: { request?: string } }>('/authn/card/start', async (request, reply) => {
      const locale = pickLocale(request);
      const step = await cards.nextAttempt(request.query.request, attemptsOf(request));
      if (step.kind === 'expired') return sendPage(reply.code(410), cardExpiredPage(locale, request.url));
      if (step.kind === 'restartBrowser') {
        request.log.info({ decision: 'card login attempts exhausted', maxAttempts: cards.maxAttempts }, 'card login: restart the browser');
        return sendPage(reply, restartBrowserPage(locale, request.url, cards.maxAttempts));
      }
      reply.header('set-cookie', `${ATTEMPTS_COOKIE}=${step.attempt}; Path=/authn/card; HttpOnly; Secure; SameSite=Lax`);
      return reply.redirect(step.url, 303);
    });
  };
}

function attemptsOf(request: FastifyRequest): number {
  for (const pair of request.headers.cookie?.split(';') ?? []) {
    const [name, value] = pair.trim().split('=');
    if (name === ATTEMPTS_COOKIE && value && /^\d{1,4}$/.test(value)) return Number(value);
  }
  return 0;
}

/**
 * `/authn/card/login` on the client-certificate listener: the certificate of
 * the handshake is checked and the browser sent back to the caller with a
 * one-time handle on the outcome. Nothing is rendered here: the pages live
 * on the public host, where the styles and the person's cookies are.
 */
export function cardListenerRoutes(deps: { cards: CardLoginService; check: CardCheckOptions; publicBaseUrl: string; now: () => Date }) {
  return async (app: FastifyInstance) => {
    app.get<{ Querystring: { request?: string } }>('/authn/card/login', async (request, reply: FastifyReply) => {
      const found = await deps.cards.request(request.query.request);
      const cardRequest = found && (await deps.cards.admit(found)) ? found : undefined;
      // An unknown, expired or exhausted request: the public host's start page says so.
      if (!cardRequest) return reply.redirect(`${deps.publicBaseUrl}/authn/card/start?request=${encodeURIComponent(String(request.query.request ?? ''))}`, 303);
      const outcome = await checkCardCertificate(peerCertificatePem(request), cardRequest.requirements, deps.check, deps.now());
      if (outcome.ok) request.log.info({ decision: 'card login accepted', serial: outcome.login.certificate.serialNumber, loa: outcome.login.loa, requester: cardRequest.requester.clientId }, 'card login');
      else request.log.info({ decision: 'card login refused', code: outcome.code, reason: outcome.reason, serial: outcome.certificate?.serialNumber, requester: cardRequest.requester.clientId }, 'card login');
      return reply.redirect(await deps.cards.settle(cardRequest, outcome), 303);
    });
  };
}
