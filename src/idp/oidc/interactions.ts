import { parse as parseForm } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { cardRefusalAdvice, type CardLoginService, type OrderService } from '../../authn/index.ts';
import type { PersonView } from '../../directory/index.ts';
import { sendPage } from '../../server/index.ts';
import type { EphemeralStore } from '../../store/index.ts';
import { pickLocale, type Locale } from '../../web/index.ts';
import { accountIdOf, readCookie, sessionCookie, SSO_COOKIE, type AuthnMethod, type LoginRecord, type SessionStore, type SsoSession } from '../session/index.ts';
import { choiceNeeded, grantedClaims, parseClaimsParameter, pinnedValues, SCOPES, type Choice, type RequestedClaims } from '../claims/index.ts';
import { findClient, type ClientRecord } from './clients.ts';
import type { OidcConfig } from './config.ts';
import { asLoggedIn, autoStartLink, cardRefusalPage, commissionPage, createLoginFlow, hintText, loginErrorPage, loginMessages, methodPage, qrImage, serviceIdentityPage, waitPage, widenFormAction } from '../login/index.ts';
import { acrOf, grantRecordKey, minimumLoaOf, type GrantRecord } from './provider.ts';

export interface InteractionDependencies {
  readonly provider: () => Provider;
  readonly config: OidcConfig;
  readonly db: Parameters<typeof findClient>[0];
  readonly ephemeral: EphemeralStore;
  readonly sessions: SessionStore;
  readonly orders: OrderService;
  /** Card login over mutual TLS on the authentication service; without it the method `mtls` is not offered. */
  readonly cardLogins?: CardLoginService;
  /** Where the card login sends the browser back (this installation's public origin). */
  readonly publicBaseUrl?: string;
  readonly loadPerson: (personnummer: string) => Promise<PersonView | null>;
  readonly now: () => number;
}

/** The login request as the pages need it: who asks, for what, and what they pinned. */
interface LoginRequest {
  readonly uid: string;
  readonly client: ClientRecord;
  readonly prompt: string;
  readonly params: Record<string, unknown>;
  readonly requested: RequestedClaims;
  readonly granted: Set<string>;
  readonly minimumLoa: 2 | 3 | undefined;
  readonly maxAge: number | undefined;
}

const baseOf = (uid: string) => `/oidc/interaction/${uid}`;
/** `amr` values: the method, except card login, which is TLS client authentication (domain.md §9). */
export const TLS_CLIENT_AMR = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';
const amrOf = (method: AuthnMethod) => (method === 'mtls' ? TLS_CLIENT_AMR : method);

/**
 * The login pages under `/oidc/interaction/:uid`: method choice → QR page
 * (order on the authentication service, polled) → choice of commission or
 * service identity when the granted claims need it → back to oidc-provider,
 * without a consent page.
 */
export function interactionRoutes(deps: InteractionDependencies) {
  const flow = createLoginFlow({ ephemeral: deps.ephemeral, orders: deps.orders, ...(deps.cardLogins ? { cardLogins: deps.cardLogins } : {}), sessions: deps.sessions, now: deps.now, interactionMs: deps.config.interactionSeconds * 1000 });
  const offered = flow.offered;
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => done(null, parseForm(body as string)));

    app.get<{ Params: { uid: string } }>('/oidc/interaction/:uid', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const sso = await liveSession(request, login);
      if (sso) return afterAuthentication(request, reply, login, sso);
      const methods = login.client.methods.filter((m) => offered.includes(m));
      if (methods.length === 1) return startOrder(request, reply, login, methods[0]!);
      return sendPage(reply, methodPage(localeOf(request), request.url, baseOf(login.uid), login.client.displayName, methods));
    });

    app.post<{ Params: { uid: string }; Body: { method?: string } }>('/oidc/interaction/:uid/start', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const method = request.body?.method as AuthnMethod;
      if (!offered.includes(method) || !login.client.methods.includes(method)) return errorPage(request, reply, 400, loginMessages(localeOf(request))('error.unknownMethod'));
      return startOrder(request, reply, login, method);
    });

    app.get<{ Params: { uid: string } }>('/oidc/interaction/:uid/wait', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const pending = await flow.readPending(login.uid);
      if (!pending) return reply.redirect(`/oidc/interaction/${login.uid}`, 303);
      const locale = localeOf(request);
      return sendPage(reply, waitPage(locale, request.url, baseOf(login.uid), login.client.displayName, qrImage(pending, deps.now()), autoStartLink(pending, `${baseOf(login.uid)}/wait`), 'outstandingTransaction'));
    });

    /** What the QR page polls: a fresh QR code and the hint, or where to go next. */
    app.get<{ Params: { uid: string } }>('/oidc/interaction/:uid/status', async (request, reply) => {
      const login = await loadRequest(request, reply, 'json');
      if (!login) return reply;
      const state = await poll(request, reply, login);
      return reply.code(state.status === 'gone' ? 404 : 200).header('cache-control', 'no-store').send(state);
    });

    /** The same without JavaScript: the Continue button. */
    app.post<{ Params: { uid: string } }>('/oidc/interaction/:uid/collect', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const state = await poll(request, reply, login);
      return reply.redirect(state.next ?? state.retry ?? `/oidc/interaction/${login.uid}/wait`, 303);
    });

    app.post<{ Params: { uid: string } }>('/oidc/interaction/:uid/cancel', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      await flow.cancel(login.uid, requesterOf(login.client).clientId);
      return finish(request, reply, { error: 'access_denied', error_description: 'the person cancelled the login' });
    });

    app.get<{ Params: { uid: string } }>('/oidc/interaction/:uid/card/start', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      if (!offered.includes('mtls') || !login.client.methods.includes('mtls')) return errorPage(request, reply, 400, loginMessages(localeOf(request))('error.unknownMethod'));
      return startCardLogin(reply, login);
    });

    /** Back from the card login's rolling host with a one-time handle on the outcome. */
    app.get<{ Params: { uid: string }; Querystring: { card?: string } }>('/oidc/interaction/:uid/card', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const outcome = await flow.finishCard(login.uid, request.query.card);
      if (outcome.status === 'gone') return reply.redirect(`/oidc/interaction/${login.uid}`, 303);
      const locale = localeOf(request);
      if (outcome.status === 'refused') {
        request.log.info({ decision: 'oidc card login refused', code: outcome.refusal.code, clientId: login.client.clientId }, outcome.refusal.reason);
        const otherMethods = login.client.methods.filter((m) => offered.includes(m)).length > 1;
        return sendPage(reply, cardRefusalPage(locale, request.url, baseOf(login.uid), login.client.displayName, cardRefusalAdvice(locale, outcome.refusal, outcome.startPath), otherMethods));
      }
      // This interaction's own authentication satisfies prompt=login.
      await deps.ephemeral.set(`idp:fresh:${login.uid}`, outcome.session.id, deps.config.interactionSeconds * 1000);
      reply.header('set-cookie', sessionCookie(outcome.session, deps.config.ssoSessionSeconds));
      return reply.redirect(`/oidc/interaction/${login.uid}`, 303);
    });

    app.post<{ Params: { uid: string }; Body: { choice?: string } }>('/oidc/interaction/:uid/choose', async (request, reply) => {
      const login = await loadRequest(request, reply);
      if (!login) return reply;
      const sso = await liveSession(request, login);
      if (!sso) return reply.redirect(`/oidc/interaction/${login.uid}`, 303);
      const person = asLoggedIn(sso.subject.personalIdentityNumber ? await deps.loadPerson(sso.subject.personalIdentityNumber) : null, sso);
      const need = choiceNeeded(person, login.granted, login.requested);
      const picked = String(request.body?.choice ?? '');
      if (need.ask === 'commission' && need.candidates.some((c) => c.hsaId === picked)) return complete(request, reply, login, sso, { kind: 'commission', hsaId: picked });
      if (need.ask === 'serviceIdentity' && need.candidates.some((s) => s.hsaId === picked)) return complete(request, reply, login, sso, { kind: 'serviceIdentity', hsaId: picked });
      return reply.redirect(`/oidc/interaction/${login.uid}`, 303);
    });
  };

  async function loadRequest(request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply, answer: 'page' | 'json' = 'page'): Promise<LoginRequest | undefined> {
    let details;
    try {
      details = await deps.provider().interactionDetails(request.raw, reply.raw);
    } catch {
      if (answer === 'json') reply.code(400).send({ status: 'failed', hint: loginMessages(localeOf(request))('hint.expiredTransaction') });
      else errorPage(request, reply, 400, loginMessages(localeOf(request))('hint.expiredTransaction'));
      return undefined;
    }
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), details.params['redirect_uri']));
    if (details.uid !== request.params.uid) {
      errorPage(request, reply, 400, loginMessages(localeOf(request))('hint.expiredTransaction'));
      return undefined;
    }
    const client = await findClient(deps.db, String(details.params['client_id']));
    if (!client) {
      errorPage(request, reply, 400, loginMessages(localeOf(request))('error.unknownClient'));
      return undefined;
    }
    const requested = parseClaimsParameter(details.params['claims']);
    const maxAge = details.params['max_age'] === undefined ? undefined : Number(details.params['max_age']);
    return {
      uid: details.uid,
      client,
      prompt: details.prompt.name,
      params: details.params,
      requested,
      granted: grantedClaims(String(details.params['scope'] ?? ''), requested, new Set(client.allowedClaims)),
      minimumLoa: minimumLoaOf(deps.config, details.params['acr_values']),
      maxAge: Number.isFinite(maxAge) ? maxAge : undefined,
    };
  }

  /** The SSO session, when it can stand in for a new authentication for this request. */
  async function liveSession(request: FastifyRequest, login: LoginRequest): Promise<SsoSession | null> {
    const sso = await deps.sessions.get(readCookie(request.headers.cookie, SSO_COOKIE));
    if (!sso) return null;
    const forced = String(login.params['prompt'] ?? '').split(' ').includes('login') && login.prompt === 'login' && (await deps.ephemeral.get(`idp:fresh:${login.uid}`)) !== sso.id;
    if (forced) return null;
    if (login.maxAge !== undefined && Math.floor(deps.now() / 1000) - sso.authTime > login.maxAge) return null;
    if (login.minimumLoa && sso.loa < login.minimumLoa) return null;
    return sso;
  }

  async function startOrder(request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply, login: LoginRequest, method: AuthnMethod) {
    if (method === 'mtls') return startCardLogin(reply, login);
    const pinnedPerson = pinnedValues(login.requested, 'personalIdentityNumber');
    const requirements = {
      ...(pinnedPerson?.size === 1 ? { personalIdentityNumber: [...pinnedPerson][0]! } : {}),
      ...(login.minimumLoa ? { minimumLoa: login.minimumLoa } : {}),
    };
    await flow.start(login.uid, { method, requester: requesterOf(login.client), endUserIp: request.ip, requirements, userVisibleText: loginMessages('sv')('login.to').replace('{client}', login.client.displayName) });
    return reply.redirect(`/oidc/interaction/${login.uid}/wait`, 303);
  }

  /** A card login on the authentication service; the browser goes to its first rolling host and comes back to `/card`. */
  async function startCardLogin(reply: FastifyReply, login: LoginRequest) {
    const one = (name: string) => {
      const pins = pinnedValues(login.requested, name);
      return pins?.size === 1 ? [...pins][0]! : undefined;
    };
    const person = one('personalIdentityNumber');
    const hsaId = one('employeeHsaId');
    const requirements = { ...(person ? { personalIdentityNumber: person } : {}), ...(hsaId ? { hsaId } : {}), ...(login.minimumLoa ? { minimumLoa: login.minimumLoa } : {}) };
    const startPath = await flow.startCard(login.uid, { requester: requesterOf(login.client), returnTo: `${deps.publicBaseUrl}/oidc/interaction/${login.uid}/card`, requirements });
    return reply.redirect(startPath, 303);
  }

  /** Collects the order once; a completed order becomes the SSO session (exactly once, whichever poll sees it first). */
  async function poll(request: FastifyRequest, reply: FastifyReply, login: LoginRequest): Promise<{ status: string; hint?: string; qr?: string; next?: string; retry?: string }> {
    const locale = localeOf(request);
    const outcome = await flow.poll(login.uid, requesterOf(login.client).clientId);
    switch (outcome.status) {
      case 'gone':
        return { status: 'gone', hint: hintText(locale, 'expiredTransaction'), next: `/oidc/interaction/${login.uid}` };
      case 'pending':
        return { status: 'pending', hint: hintText(locale, outcome.hintCode), qr: qrImage(outcome.pending, deps.now()) };
      case 'taken':
        return { status: 'complete', next: `/oidc/interaction/${login.uid}` };
      case 'failed':
        request.log.info({ decision: 'oidc login failed', hintCode: outcome.hintCode, clientId: login.client.clientId }, 'authentication order failed');
        // No automatic new order: the person reads why, then starts again.
        return { status: 'failed', hint: hintText(locale, outcome.hintCode), retry: `/oidc/interaction/${login.uid}` };
      case 'complete':
        // This interaction's own authentication satisfies prompt=login.
        await deps.ephemeral.set(`idp:fresh:${login.uid}`, outcome.session.id, deps.config.interactionSeconds * 1000);
        reply.header('set-cookie', sessionCookie(outcome.session, deps.config.ssoSessionSeconds));
        return { status: 'complete', next: `/oidc/interaction/${login.uid}` };
    }
  }

  async function afterAuthentication(request: FastifyRequest<{ Params: { uid: string } }>, reply: FastifyReply, login: LoginRequest, sso: SsoSession) {
    const person = asLoggedIn(sso.subject.personalIdentityNumber ? await deps.loadPerson(sso.subject.personalIdentityNumber) : null, sso);
    const need = choiceNeeded(person, login.granted, login.requested);
    const locale = localeOf(request);
    if (need.ask === 'impossible') {
      request.log.info({ decision: 'oidc principal mismatch', clientId: login.client.clientId }, need.reason);
      return finish(request, reply, { error: 'access_denied', error_description: need.reason });
    }
    if (need.ask === 'commission') return sendPage(reply, commissionPage(locale, request.url, baseOf(login.uid), login.client.displayName, need.candidates));
    if (need.ask === 'serviceIdentity') return sendPage(reply, serviceIdentityPage(locale, request.url, baseOf(login.uid), login.client.displayName, need.candidates));
    return complete(request, reply, login, sso, need.choice);
  }

  /** Grants what the client asked for and may receive (the rest rejected, so no consent page), then hands back to oidc-provider. */
  async function complete(request: FastifyRequest, reply: FastifyReply, login: LoginRequest, sso: SsoSession, choice: Choice) {
    const provider = deps.provider();
    const accountId = accountIdOf(sso);
    const grant = new provider.Grant({ accountId, clientId: login.client.clientId });
    const scopes = String(login.params['scope'] ?? '').split(' ').filter(Boolean);
    const allowedScopes = scopes.filter((s) => s === 'openid' || s === 'offline_access' || ((SCOPES as Record<string, readonly string[]>)[s] ?? []).some((c) => login.granted.has(c)));
    grant.addOIDCScope(allowedScopes.join(' '));
    const rejectedScopes = scopes.filter((s) => !allowedScopes.includes(s));
    if (rejectedScopes.length) grant.rejectOIDCScope(rejectedScopes.join(' '));
    grant.addOIDCClaims([...login.granted]);
    const asked = [...Object.keys(login.requested.id_token ?? {}), ...Object.keys(login.requested.userinfo ?? {})];
    const cut = asked.filter((c) => !login.granted.has(c));
    if (cut.length) grant.rejectOIDCClaims(cut);
    const grantId = await grant.save();
    const record: GrantRecord = { login: loginOf(sso), choice, granted: [...login.granted] };
    await deps.ephemeral.set(grantRecordKey(grantId), JSON.stringify(record), deps.config.refreshTokenSeconds * 1000);
    return finish(request, reply, {
      login: { accountId, acr: acrOf(deps.config, sso.loa), amr: [amrOf(sso.method)], ts: sso.authTime, remember: true },
      consent: { grantId },
    });
  }

  async function finish(request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>) {
    const url = await deps.provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false });
    return reply.redirect(url, 303);
  }
}

function loginOf(sso: SsoSession): LoginRecord {
  return { subject: sso.subject, method: sso.method, loa: sso.loa, authTime: sso.authTime, certificatePem: sso.certificatePem };
}

const requesterOf = (client: ClientRecord) => ({ clientId: `oidc:${client.clientId}`, displayName: client.displayName });

function localeOf(request: FastifyRequest): Locale {
  return pickLocale(request);
}

function errorPage(request: FastifyRequest, reply: FastifyReply, status: number, message: string) {
  return sendPage(reply.code(status), loginErrorPage(localeOf(request), request.url, message));
}
