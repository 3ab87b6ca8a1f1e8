import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { cardRefusalAdvice, type CardLoginService, type OrderService, type Requester, type Requirements } from '../../authn/index.ts';
import type { PersonView } from '../../directory/index.ts';
import { sendPage } from '../../server/index.ts';
import type { EphemeralStore } from '../../store/index.ts';
import { pickLocale } from '../../web/index.ts';
import { choiceNeeded, type Choice, type RequestedClaims } from '../claims/index.ts';
import { readCookie, sessionCookie, SSO_COOKIE, type AuthnMethod, type SessionStore, type SsoSession } from '../session/index.ts';
import { asLoggedIn, autoStartLink, createLoginFlow, OOB_METHODS, qrImage } from './flow.ts';
import { cardRefusalPage, commissionPage, hintText, loginErrorPage, loginMessages, methodPage, serviceIdentityPage, waitPage } from './pages.ts';

/** A login request as the shared steps see it; each protocol's own request extends it. */
export interface LoginRequest {
  /** Names the login in its URLs and on the short-lived store: SAML's own key, OIDC's interaction uid. */
  readonly key: string;
  /** Who asks (`saml:<entityID>`, `oidc:<client_id>`): the orders' requester, its name on the pages. */
  readonly requester: Requester;
  /** The methods the relying party allows; the pages offer those the authentication service has. */
  readonly methods: readonly AuthnMethod[];
}

/** How a login ends without what the relying party asked for. */
export type LoginFailure =
  | { readonly kind: 'cancelled' }
  /** The person who logged in cannot meet the request (pre-selection, choice). */
  | { readonly kind: 'impossible'; readonly reason: string };

/** Where the pending login was not found: the message the person (or the polling page) gets. */
export type LoginMissing = 'hint.expiredTransaction' | 'error.unknownClient';

/** What a protocol supplies to the shared login steps: all that differs between SAML and OIDC. */
export interface LoginAdapter<L extends LoginRequest> {
  /** Names the log decisions (`saml login failed`, `oidc card login refused`). */
  readonly protocol: 'saml' | 'oidc';
  /** The login's pages are under `<prefix>/<key>`. */
  readonly prefix: string;
  /** The pending login the URL names, with the page's CSP widened to where it ends (the relying party). */
  find(request: FastifyRequest, reply: FastifyReply, key: string): Promise<L | LoginMissing>;
  /** Who the log lines name: `{ sp }` or `{ clientId }`. */
  logFields(login: L): Record<string, string>;
  /** What the authentication service must demand: a pinned person or HSA-id (the card only), a minimum LoA. */
  requirements(login: L): Requirements;
  /** The claims (attributes) the relying party receives, and what it asked for with values (pre-selection). */
  claims(login: L): { readonly granted: ReadonlySet<string>; readonly requested: RequestedClaims };
  /**
   * Answers a request that forbids login pages when no SSO session can
   * answer it (SAML IsPassive: NoPassive); undefined lets the pages go on.
   * Absent for OIDC: oidc-provider answers prompt=none before any interaction.
   */
  refusePages?(request: FastifyRequest, reply: FastifyReply, login: L): Promise<FastifyReply> | undefined;
  /**
   * Whether the SSO session may stand in for a new authentication (LoA, age,
   * ForceAuthn or prompt=login); `ownAuthentication` reads whether the
   * session came from this login's own authentication.
   */
  accepts(login: L, sso: SsoSession, ownAuthentication: () => Promise<boolean>): Promise<boolean>;
  /** The login goes on to a later step (a page, an authentication): SAML stores a request just in; oidc-provider keeps its interaction. */
  keep(login: L): Promise<void>;
  /** Answers the relying party: SAML posts the Response, OIDC finishes oidc-provider's interaction. */
  complete(request: FastifyRequest, reply: FastifyReply, login: L, sso: SsoSession, person: PersonView | null, choice: Choice): Promise<FastifyReply>;
  /** Answers the relying party with the failure: a SAML status, an OIDC error. */
  fail(request: FastifyRequest, reply: FastifyReply, login: L, failure: LoginFailure): Promise<FastifyReply>;
}

/** What the login steps use, as each protocol's part hands it to its routes. */
export interface LoginServices {
  readonly ephemeral: EphemeralStore;
  readonly orders: OrderService;
  /** Card login over mutual TLS on the authentication service; without it the method `mtls` is not offered. */
  readonly cardLogins?: CardLoginService;
  /** Where the card login sends the browser back (this installation's public origin). */
  readonly publicBaseUrl?: string;
  readonly sessions: SessionStore;
  readonly loadPerson: (personnummer: string) => Promise<PersonView | null>;
}

export interface LoginRouterDependencies extends LoginServices {
  readonly now: () => number;
  /** How long a person has to finish the pages. */
  readonly interactionMs: number;
  readonly ssoSessionSeconds: number;
}

/** The SSO session made by this login's own authentication: ForceAuthn and prompt=login accept only it. */
const freshKey = (key: string) => `idp:fresh:${key}`;

/**
 * The login steps both protocols share, under `<prefix>/<key>`: method page →
 * QR page (an order on the authentication service, polled) or card login →
 * choice of commission or service identity → the adapter's answer.
 * `routes` mounts them (the protocol's plugin parses the forms); `proceed`
 * runs the first step for a request just in (SAML's `/saml/sso`).
 */
export function createLoginRouter<L extends LoginRequest>(deps: LoginRouterDependencies, adapter: LoginAdapter<L>) {
  const flow = createLoginFlow({ ephemeral: deps.ephemeral, orders: deps.orders, ...(deps.cardLogins ? { cardLogins: deps.cardLogins } : {}), sessions: deps.sessions, now: deps.now, interactionMs: deps.interactionMs });
  const baseOf = (key: string) => `${adapter.prefix}/${key}`;
  const path = (step: string) => `${adapter.prefix}/:key${step}`;
  const offeredTo = (login: L) => login.methods.filter((m) => flow.offered.includes(m));

  const routes = async (app: FastifyInstance) => {
    app.get<{ Params: { key: string } }>(path(''), async (request, reply) => {
      const login = await load(request, reply);
      return login && proceed(request, reply, login);
    });

    // The card is a link to /card/start (a form's CSP form-action would also bind the redirects to the card hosts).
    app.post<{ Params: { key: string }; Body: { method?: string } }>(path('/start'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      const method = request.body?.method as AuthnMethod;
      if (!OOB_METHODS.includes(method) || !login.methods.includes(method)) return sendLoginError(request, reply, 400, loginMessages(pickLocale(request))('error.unknownMethod'));
      return startOrder(request, reply, login, method);
    });

    app.get<{ Params: { key: string } }>(path('/card/start'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      if (!flow.offered.includes('mtls') || !login.methods.includes('mtls')) return sendLoginError(request, reply, 400, loginMessages(pickLocale(request))('error.unknownMethod'));
      return startCardLogin(reply, login);
    });

    /** Back from the card login's rolling host with a one-time handle on the outcome. */
    app.get<{ Params: { key: string }; Querystring: { card?: string } }>(path('/card'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      const outcome = await flow.finishCard(login.key, request.query.card);
      if (outcome.status === 'gone') return reply.redirect(baseOf(login.key), 303);
      if (outcome.status === 'refused') {
        const locale = pickLocale(request);
        request.log.info({ decision: `${adapter.protocol} card login refused`, code: outcome.refusal.code, ...adapter.logFields(login) }, outcome.refusal.reason);
        return sendPage(reply, cardRefusalPage(locale, request.url, baseOf(login.key), login.requester.displayName, cardRefusalAdvice(locale, outcome.refusal, outcome.startPath), offeredTo(login).length > 1));
      }
      await authenticated(reply, login.key, outcome.session);
      return reply.redirect(baseOf(login.key), 303);
    });

    app.get<{ Params: { key: string } }>(path('/wait'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      const pending = await flow.readPending(login.key);
      if (!pending) return reply.redirect(baseOf(login.key), 303);
      return sendPage(reply, waitPage(pickLocale(request), request.url, baseOf(login.key), login.requester.displayName, qrImage(pending, deps.now()), autoStartLink(pending, `${baseOf(login.key)}/wait`), 'outstandingTransaction'));
    });

    /** What the QR page polls: a fresh QR code and the hint, or where to go next. */
    app.get<{ Params: { key: string } }>(path('/status'), async (request, reply) => {
      const login = await load(request, reply, 'json');
      if (!login) return reply;
      const state = await poll(request, reply, login);
      return reply.code(state.status === 'gone' ? 404 : 200).header('cache-control', 'no-store').send(state);
    });

    /** The same without JavaScript: the Continue button. */
    app.post<{ Params: { key: string } }>(path('/collect'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      const state = await poll(request, reply, login);
      return reply.redirect(state.next ?? state.retry ?? `${baseOf(login.key)}/wait`, 303);
    });

    app.post<{ Params: { key: string } }>(path('/cancel'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      await flow.cancel(login.key, login.requester.clientId);
      return adapter.fail(request, reply, login, { kind: 'cancelled' });
    });

    app.post<{ Params: { key: string }; Body: { choice?: string } }>(path('/choose'), async (request, reply) => {
      const login = await load(request, reply);
      if (!login) return reply;
      const sso = await usableSession(request, login);
      if (!sso) return reply.redirect(baseOf(login.key), 303);
      const person = asLoggedIn(sso.subject.personalIdentityNumber ? await deps.loadPerson(sso.subject.personalIdentityNumber) : null, sso);
      const { granted, requested } = adapter.claims(login);
      const need = choiceNeeded(person, granted, requested);
      const picked = String(request.body?.choice ?? '');
      if (need.ask === 'commission' && need.candidates.some((c) => c.hsaId === picked)) return adapter.complete(request, reply, login, sso, person, { kind: 'commission', hsaId: picked });
      if (need.ask === 'serviceIdentity' && need.candidates.some((s) => s.hsaId === picked)) return adapter.complete(request, reply, login, sso, person, { kind: 'serviceIdentity', hsaId: picked });
      return reply.redirect(baseOf(login.key), 303);
    });
  };

  async function load(request: FastifyRequest<{ Params: { key: string } }>, reply: FastifyReply, answer: 'page' | 'json' = 'page'): Promise<L | undefined> {
    const found = await adapter.find(request, reply, request.params.key);
    if (typeof found !== 'string') return found;
    const message = loginMessages(pickLocale(request))(found);
    if (answer === 'json') reply.code(400).send({ status: 'failed', hint: message });
    else sendLoginError(request, reply, 400, message);
    return undefined;
  }

  /** The SSO session, when it can answer this request without a new authentication; `session`: the browser's, when already read. */
  async function usableSession(request: FastifyRequest, login: L, session?: Promise<SsoSession | null>): Promise<SsoSession | null> {
    const sso = await (session ?? deps.sessions.get(readCookie(request.headers.cookie, SSO_COOKIE)));
    if (!sso) return null;
    const ownAuthentication = async () => (await deps.ephemeral.get(freshKey(login.key))) === sso.id;
    return (await adapter.accepts(login, sso, ownAuthentication)) ? sso : null;
  }

  /** The first step: the SSO session answers, or the method page (skipped when one method is offered). */
  async function proceed(request: FastifyRequest, reply: FastifyReply, login: L, session?: Promise<SsoSession | null>): Promise<FastifyReply> {
    const sso = await usableSession(request, login, session);
    if (sso) return afterAuthentication(request, reply, login, sso);
    const refused = adapter.refusePages?.(request, reply, login);
    if (refused) return refused;
    await adapter.keep(login);
    const methods = offeredTo(login);
    if (methods.length === 1) return methods[0] === 'mtls' ? startCardLogin(reply, login) : startOrder(request, reply, login, methods[0]!);
    return sendPage(reply, methodPage(pickLocale(request), request.url, baseOf(login.key), login.requester.displayName, methods));
  }

  async function startOrder(request: FastifyRequest, reply: FastifyReply, login: L, method: AuthnMethod) {
    // An HSA-id is the card's: the eID app's orders take a person and a level.
    const { hsaId: _cardOnly, ...requirements } = adapter.requirements(login);
    const { displayName } = login.requester;
    await flow.start(login.key, { method, requester: login.requester, endUserIp: request.ip, requirements, userVisibleText: loginMessages('sv')('login.to').replace('{client}', displayName) });
    return reply.redirect(`${baseOf(login.key)}/wait`, 303);
  }

  /** A card login on the authentication service; the browser goes to its first rolling host and comes back to `/card`. */
  async function startCardLogin(reply: FastifyReply, login: L) {
    const startPath = await flow.startCard(login.key, { requester: login.requester, returnTo: `${deps.publicBaseUrl}${baseOf(login.key)}/card`, requirements: adapter.requirements(login) });
    return reply.redirect(startPath, 303);
  }

  /** Collects the order once; a completed order becomes the SSO session (exactly once, whichever poll sees it first). */
  async function poll(request: FastifyRequest, reply: FastifyReply, login: L): Promise<{ status: string; hint?: string; qr?: string; next?: string; retry?: string }> {
    const locale = pickLocale(request);
    const base = baseOf(login.key);
    const outcome = await flow.poll(login.key, login.requester.clientId);
    switch (outcome.status) {
      case 'gone':
        return { status: 'gone', hint: hintText(locale, 'expiredTransaction'), next: base };
      case 'pending':
        return { status: 'pending', hint: hintText(locale, outcome.hintCode), qr: qrImage(outcome.pending, deps.now()) };
      case 'taken':
        return { status: 'complete', next: base };
      case 'failed':
        request.log.info({ decision: `${adapter.protocol} login failed`, hintCode: outcome.hintCode, ...adapter.logFields(login) }, 'authentication order failed');
        // No automatic new order: the person reads why, then starts again.
        return { status: 'failed', hint: hintText(locale, outcome.hintCode), retry: base };
      case 'complete':
        await authenticated(reply, login.key, outcome.session);
        return { status: 'complete', next: base };
    }
  }

  /** A new SSO session from this login's own authentication: the browser's cookie, and the record that satisfies ForceAuthn and prompt=login. */
  async function authenticated(reply: FastifyReply, key: string, session: SsoSession) {
    await deps.ephemeral.set(freshKey(key), session.id, deps.interactionMs);
    reply.header('set-cookie', sessionCookie(session, deps.ssoSessionSeconds));
  }

  /** Logged in: the choice page when the claims need one, else the answer. */
  async function afterAuthentication(request: FastifyRequest, reply: FastifyReply, login: L, sso: SsoSession) {
    const person = asLoggedIn(sso.subject.personalIdentityNumber ? await deps.loadPerson(sso.subject.personalIdentityNumber) : null, sso);
    const { granted, requested } = adapter.claims(login);
    const need = choiceNeeded(person, granted, requested);
    if (need.ask === 'impossible') return adapter.fail(request, reply, login, { kind: 'impossible', reason: need.reason });
    if (need.ask === 'nothing') return adapter.complete(request, reply, login, sso, person, need.choice);
    await adapter.keep(login);
    const locale = pickLocale(request);
    if (need.ask === 'commission') return sendPage(reply, commissionPage(locale, request.url, baseOf(login.key), login.requester.displayName, need.candidates));
    return sendPage(reply, serviceIdentityPage(locale, request.url, baseOf(login.key), login.requester.displayName, need.candidates));
  }

  return { routes, proceed };
}

/** The login's error page (its own message, then "go back to the e-service and start again"). */
export function sendLoginError(request: FastifyRequest, reply: FastifyReply, status: number, message: string) {
  return sendPage(reply.code(status), loginErrorPage(pickLocale(request), request.url, message));
}
