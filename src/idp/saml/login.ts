import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse as parseForm } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PersonView } from '../../directory/index.ts';
import { sendPage } from '../../server/index.ts';
import type { Database, EphemeralStore } from '../../store/index.ts';
import { pickLocale } from '../../web/index.ts';
import { buildClaims, type Choice, type RequestedClaims } from '../claims/index.ts';
import { createLoginRouter, loginMessages, sendLoginError, widenFormAction, type LoginAdapter, type LoginFailure, type LoginRequest, type LoginServices } from '../login/index.ts';
import { accountIdOf, readCookie, sessionCookie, SSO_COOKIE, loginRecordOf, type Participant, type SsoSession } from '../session/index.ts';
import { validateAuthnRequest, type IncomingRequest, type RequestEnvironment, type ValidatedAuthnRequest } from './authn-request.ts';
import { POST_SCRIPT, postPage, samlMessages } from './pages.ts';
import { validateLogoutRequest } from './logout-request.ts';
import { recordIssuedAssertion } from './bearer.ts';
import { isLogoutResponse, outgoingLogout, readLogoutResponse, type SamlLogoutTarget } from './logout.ts';
import { authnMethodUri, logoutResponse, nameIdFor, statusResponse, successResponse, type Idp } from './response.ts';
import { serviceProviderCache, type ServiceProvider } from './sps.ts';
import { RequestRefused, SamlStatusError, STATUS } from './status.ts';

export interface SamlLoginDependencies extends LoginServices {
  readonly idp: Idp;
  readonly db: Database;
  readonly pairwiseKey: Uint8Array;
  /** The request checks' settings, less the clock (read per request). */
  readonly requestEnvironment: Omit<RequestEnvironment, 'now' | 'findSp' | 'firstUse'>;
  /** Our SingleLogoutService: a LogoutRequest's Destination must name it. */
  readonly sloUrl: string;
  /** Back-channel logout notices to the session's OIDC clients (absent when no OpenID Provider runs here). */
  readonly backchannelLogout?: (participants: readonly Participant[], accountId: string) => Promise<readonly { readonly told: boolean }[]>;
  readonly assertionLifetimeMs: number;
  readonly interactionMs: number;
  readonly ssoSessionSeconds: number;
  readonly now: () => Date;
}

/**
 * A single logout on its way through the SAML SPs of the session, one after
 * the other through the browser, then back to the SP that started it.
 */
interface LogoutChain {
  /** An SP's LogoutRequest (answered with a LogoutResponse), or an OIDC logout (the browser goes on to oidc-provider's next URL). */
  readonly initiator: SamlInitiator | { readonly finishUrl: string };
  readonly remaining: readonly SamlLogoutTarget[];
  /** Some participant was not told, or did not confirm: the answer is PartialLogout. */
  readonly partial: boolean;
  /** The SP the browser is at now, and the ID of the LogoutRequest it must answer. */
  readonly current?: { readonly entityId: string; readonly requestId: string };
}

interface SamlInitiator {
  readonly entityId: string;
  readonly responseUrl: string;
  readonly requestId: string;
  readonly relayState: string | undefined;
}

/** A validated request while the person is on the login pages (the SP is read again at each step). */
type PendingRequest = Omit<ValidatedAuthnRequest, 'sp'> & { readonly spEntityId: string };

/**
 * A request being answered. It is kept on the short-lived store under `key`
 * (`stored`) only once a page or an authentication must carry it to a later
 * step; one the SSO session answers at once never is (its ID, recorded as
 * used, already lets it be answered only once).
 */
interface Login extends LoginRequest {
  readonly pending: PendingRequest;
  readonly sp: ServiceProvider;
  readonly stored: boolean;
}

const requestKey = (key: string) => `saml:login:${key}`;
const logoutKey = (key: string) => `saml:slo:${key}`;
const oidcLogoutKey = (key: string) => `saml:slo-oidc:${key}`;
/** Where the browser goes from an OIDC logout to start the SAML part of it. */
const OIDC_LOGOUT_PATH = '/saml/slo/oidc';
const validKey = (key: string) => /^[A-Za-z0-9_-]{32}$/.test(key);
const samlLogin = (key: string, pending: PendingRequest, sp: ServiceProvider, stored: boolean): Login => ({
  key,
  requester: { clientId: `saml:${sp.entityId}`, displayName: sp.displayName },
  methods: sp.methods,
  pending,
  sp,
  stored,
});

/**
 * Web SSO: `/saml/sso` takes an AuthnRequest in either binding, then the
 * shared login pages under `/saml/login/<key>` (method → QR page → choice)
 * unless the SSO session can answer at once; the Response goes back over
 * HTTP-POST to the ACS from the SP's metadata.
 */
export function samlLoginRoutes(deps: SamlLoginDependencies) {
  const adapter: LoginAdapter<Login> = {
    protocol: 'saml',
    prefix: '/saml/login',
    find,
    logFields: (login) => ({ sp: login.sp.entityId }),
    requirements({ pending }) {
      const one = (attribute: string) => (pending.principalSelection[attribute]?.length === 1 ? pending.principalSelection[attribute][0]! : undefined);
      const person = one('personalIdentityNumber');
      const hsaId = one('employeeHsaId');
      const lowest = Math.min(...pending.acceptedLoas.map((l) => l.level));
      return { ...(person ? { personalIdentityNumber: person } : {}), ...(hsaId ? { hsaId } : {}), ...(lowest >= 3 ? { minimumLoa: 3 as const } : {}) };
    },
    claims: ({ pending }) => ({ granted: new Set(pending.attributes), requested: pinsOf(pending) }),
    refusePages: (request, reply, login) => (login.pending.isPassive ? answerWithStatus(request, reply, login, new SamlStatusError(STATUS.responder, STATUS.noPassive, 'IsPassive, and no single sign-on session can answer')) : undefined),
    async accepts(login, sso, ownAuthentication) {
      // ForceAuthn: only this login's own authentication will do (a request just in has had none).
      if (login.pending.forceAuthn && (!login.stored || !(await ownAuthentication()))) return false;
      return login.pending.acceptedLoas.some((l) => l.level === sso.loa);
    },
    keep,
    complete,
    fail,
  };
  const router = createLoginRouter({ ...deps, now: () => deps.now().getTime() }, adapter);
  const postJs = readFile(new URL('./post.js', import.meta.url));
  const findSp = serviceProviderCache(deps.db, () => deps.now().getTime());
  const environment = (): RequestEnvironment => ({
    ...deps.requestEnvironment,
    now: deps.now(),
    findSp,
    firstUse: (key, ttlMs) => deps.ephemeral.setIfAbsent(key, '1', ttlMs),
  });

  return async (app: FastifyInstance) => {
    // A POST-binding AuthnRequest is base64 XML: the body cap follows the request cap.
    const bodyLimit = Math.ceil((deps.requestEnvironment.maxBytes * 4) / 3) + 4096;
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_request, body, done) => done(null, parseForm(body as string)));

    app.get(POST_SCRIPT, async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(await postJs));

    app.get('/saml/sso', async (request, reply) => receive(request, reply, { binding: 'redirect', rawQuery: request.raw.url!.split('?')[1] ?? '' }));
    app.post<{ Body: Record<string, string | string[] | undefined> }>('/saml/sso', async (request, reply) => {
      const form: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(request.body ?? {})) {
        if (Array.isArray(value)) return refuse(request, reply, `the form has ${name} more than once`);
        form[name] = value;
      }
      return receive(request, reply, { binding: 'post', form });
    });

    app.get('/saml/slo', async (request, reply) => logout(request, reply, { binding: 'redirect', rawQuery: request.raw.url!.split('?')[1] ?? '' }));
    app.post<{ Body: Record<string, string | string[] | undefined> }>('/saml/slo', async (request, reply) => {
      const form: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(request.body ?? {})) {
        if (Array.isArray(value)) return refuse(request, reply, `the form has ${name} more than once`);
        form[name] = value;
      }
      return logout(request, reply, { binding: 'post', form });
    });

    /** From an OIDC logout (`startSamlLogout`): the chain through the session's SAML SPs, taken once. */
    app.get<{ Params: { key: string } }>(`${OIDC_LOGOUT_PATH}/:key`, async (request, reply) => {
      const key = request.params.key;
      const raw = validKey(key) ? await deps.ephemeral.take(oidcLogoutKey(key)) : null;
      if (!raw) return refuse(request, reply, 'an OIDC logout that is not under way');
      return continueLogout(request, reply, JSON.parse(raw) as LogoutChain);
    });

    // The login steps under /saml/login/<key> (src/idp/login), with the forms parsed as above.
    await router.routes(app);
  };

  /** An AuthnRequest in: refused (error page), answered with a status at its ACS, or on to the login. */
  async function receive(request: FastifyRequest, reply: FastifyReply, incoming: IncomingRequest) {
    // Read while the request is checked: the wait for it overlaps the one for recording the request's ID.
    const session = deps.sessions.get(readCookie(request.headers.cookie, SSO_COOKIE));
    session.catch(() => {}); // awaited below only when the request is accepted
    let validated: ValidatedAuthnRequest;
    try {
      validated = await validateAuthnRequest(incoming, environment());
    } catch (error) {
      if (error instanceof RequestRefused) return refuse(request, reply, error.message);
      if (error instanceof SamlStatusError && error.answerTo) {
        request.log.info({ decision: 'saml request answered with a status', sp: error.answerTo.spEntityId, status: error.status, subStatus: error.subStatus, reason: error.message }, 'saml request not met');
        return sendStatus(request, reply, error.answerTo.acsUrl, error.answerTo.inResponseTo, error.answerTo.relayState, error);
      }
      throw error;
    }
    const { sp, ...rest } = validated;
    const pending: PendingRequest = { ...rest, spEntityId: sp.entityId };
    request.log.info({ decision: 'saml request accepted', sp: sp.entityId, requestId: validated.id, forceAuthn: validated.forceAuthn, isPassive: validated.isPassive }, 'saml request accepted');
    // The answer, or the login's forms, end in the HTTP-POST to the SP's ACS: the CSP must let them.
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), pending.acsUrl));
    return router.proceed(request, reply, samlLogin(randomBytes(24).toString('base64url'), pending, sp, false), session);
  }

  /** Keeps the request for the login pages' next step (once). */
  async function keep(login: Login): Promise<void> {
    if (!login.stored) await deps.ephemeral.set(requestKey(login.key), JSON.stringify(login.pending), deps.interactionMs);
  }

  /**
   * SP-initiated single logout: the browser's SSO session ends; its OIDC
   * clients are told over the back channel, its other SAML SPs one after the
   * other over the front channel (a signed LogoutRequest, the browser carries
   * it and comes back with their LogoutResponse); then the SP that started
   * gets a signed LogoutResponse, PartialLogout when any participant was not
   * told or did not confirm.
   */
  async function logout(request: FastifyRequest, reply: FastifyReply, incoming: IncomingRequest) {
    if (isLogoutResponse(incoming)) return logoutAnswered(request, reply, incoming);
    let validated;
    try {
      validated = await validateLogoutRequest(incoming, { ...environment(), sloUrl: deps.sloUrl });
    } catch (error) {
      if (error instanceof RequestRefused) return refuse(request, reply, error.message);
      throw error;
    }
    const session = await deps.sessions.get(readCookie(request.headers.cookie, SSO_COOKIE));
    const participants = session ? await deps.sessions.end(session.id) : [];
    reply.header('set-cookie', sessionCookie(null, 0));
    const oidc = participants.filter((p) => p.protocol === 'oidc');
    const notices = oidc.length && session && deps.backchannelLogout ? await deps.backchannelLogout(oidc, accountIdOf(session)) : [];
    const oidcUntold = oidc.length > 0 && (notices.length === 0 || notices.some((n) => !n.told));
    const { targets, unreachable } = samlTargets(participants, validated.sp.entityId);
    request.log.info({ decision: 'saml logout', sp: validated.sp.entityId, sessionEnded: Boolean(session), oidcParticipants: oidc.length, oidcUntold, samlParticipants: targets.length + unreachable }, 'saml logout');
    const chain: LogoutChain = {
      initiator: { entityId: validated.sp.entityId, responseUrl: validated.responseUrl, requestId: validated.id, relayState: validated.relayState },
      remaining: targets,
      partial: oidcUntold || unreachable > 0,
    };
    return continueLogout(request, reply, chain);
  }

  /** The next SAML SP of the chain gets its LogoutRequest; none left: the initiator gets the LogoutResponse. */
  async function continueLogout(request: FastifyRequest, reply: FastifyReply, chain: LogoutChain): Promise<FastifyReply> {
    let partial = chain.partial;
    for (let i = 0; i < chain.remaining.length; i++) {
      const target = chain.remaining[i]!;
      const sp = await findSp(target.entityId);
      const key = randomBytes(24).toString('base64url');
      const outgoing = sp ? await outgoingLogout(deps.idp, sp, target, key, deps.now(), deps.interactionMs) : null;
      if (!outgoing) {
        request.log.info({ decision: 'saml logout participant not told', sp: target.entityId, reason: sp ? 'no SingleLogoutService in its metadata' : 'no longer registered' }, 'saml logout participant not told');
        partial = true;
        continue;
      }
      const next: LogoutChain = { ...chain, remaining: chain.remaining.slice(i + 1), partial, current: { entityId: target.entityId, requestId: outgoing.id } };
      await deps.ephemeral.set(logoutKey(key), JSON.stringify(next), deps.interactionMs);
      if (outgoing.binding === 'redirect') return reply.redirect(outgoing.url, 303);
      reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), outgoing.url));
      return sendPage(reply, postPage(pickLocale(request), request.url, outgoing.url, { SAMLRequest: outgoing.samlRequest, RelayState: key }));
    }
    const { initiator } = chain;
    if ('finishUrl' in initiator) {
      // OIDC has no partial-logout status to pass on: logged, and the logout goes on to the client (or oidc-provider's page).
      request.log.info({ decision: 'oidc logout through saml done', partial }, 'saml part of an oidc logout done');
      return reply.redirect(initiator.finishUrl, 303);
    }
    request.log.info({ decision: 'saml logout answered', sp: initiator.entityId, partial }, 'saml logout answered');
    const xml = await logoutResponse(deps.idp, initiator.responseUrl, initiator.requestId, deps.now(), partial);
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), initiator.responseUrl));
    return sendPage(reply, postPage(pickLocale(request), request.url, initiator.responseUrl, { SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: initiator.relayState }));
  }

  /** An SP of the chain answered (RelayState names the chain, once); a refused or failed answer makes the logout partial. */
  async function logoutAnswered(request: FastifyRequest, reply: FastifyReply, incoming: IncomingRequest) {
    const relayState = incoming.binding === 'redirect' ? new URLSearchParams(incoming.rawQuery).get('RelayState') : incoming.form['RelayState'];
    const raw = relayState && validKey(relayState) ? await deps.ephemeral.take(logoutKey(relayState)) : null;
    if (!raw) return refuse(request, reply, 'a LogoutResponse for no logout under way');
    const chain = JSON.parse(raw) as LogoutChain;
    const sp = await findSp(chain.current!.entityId);
    let loggedOut = false;
    try {
      if (sp) loggedOut = readLogoutResponse(incoming, { ...environment(), sloUrl: deps.sloUrl }, { sp, requestId: chain.current!.requestId }).loggedOut;
    } catch (error) {
      if (!(error instanceof RequestRefused)) throw error;
      request.log.info({ decision: 'saml logout response refused', sp: chain.current!.entityId, reason: error.message }, 'saml logout response refused');
    }
    if (!loggedOut) request.log.info({ decision: 'saml logout participant not confirmed', sp: chain.current!.entityId }, 'saml logout participant did not confirm');
    const { current: _answered, ...rest } = chain;
    return continueLogout(request, reply, { ...rest, partial: chain.partial || !loggedOut });
  }

  function refuse(request: FastifyRequest, reply: FastifyReply, reason: string) {
    // Logged once, here; the person sees only that the request was not accepted (never a redirect to a URL it named).
    request.log.info({ decision: 'saml request refused', reason }, 'saml request refused');
    return sendLoginError(request, reply, 400, samlMessages(pickLocale(request))('refused.body'));
  }

  /** The request kept under the URL's key, and its SP read again. */
  async function find(_request: FastifyRequest, reply: FastifyReply, key: string) {
    const raw = validKey(key) ? await deps.ephemeral.get(requestKey(key)) : null;
    if (!raw) return 'hint.expiredTransaction' as const;
    const pending = JSON.parse(raw) as PendingRequest;
    const sp = await findSp(pending.spEntityId);
    if (!sp) return 'error.unknownClient' as const;
    // Our forms end in the HTTP-POST to the SP's ACS: the CSP must let them.
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), pending.acsUrl));
    return samlLogin(key, pending, sp, true);
  }

  /** A login that ends without a Response: the person cancelled, or the one who logged in cannot meet the request. */
  function fail(request: FastifyRequest, reply: FastifyReply, login: Login, failure: LoginFailure) {
    const error =
      failure.kind === 'cancelled'
        ? new SamlStatusError(STATUS.responder, STATUS.authnFailed, 'the person cancelled the login')
        : new SamlStatusError(STATUS.requester, STATUS.unknownPrincipal, failure.reason);
    return answerWithStatus(request, reply, login, error);
  }

  /** Answers the request once: a stored one is taken from the store first (false: already answered, or expired). */
  async function answerOnce(login: Login): Promise<boolean> {
    return !login.stored || (await deps.ephemeral.take(requestKey(login.key))) !== null;
  }

  /** The signed (and, for an SP with a key, encrypted) Response, sent once: the pending request is taken first. */
  async function complete(request: FastifyRequest, reply: FastifyReply, login: Login, sso: SsoSession, person: PersonView | null, choice: Choice) {
    const { pending, sp } = login;
    if (!(await answerOnce(login))) return sendLoginError(request, reply, 400, loginMessages(pickLocale(request))('hint.expiredTransaction'));
    const loa = pending.acceptedLoas.find((l) => l.level === sso.loa)!;
    const sessionIndex = `_${randomBytes(20).toString('hex')}`;
    const nameId = nameIdFor(pending.nameIdFormat, accountIdOf(sso), sp.entityId, deps.pairwiseKey);
    const assertionId = `_${randomBytes(20).toString('hex')}`;
    const xml = await successResponse(
      deps.idp,
      { spEntityId: sp.entityId, acsUrl: pending.acsUrl, inResponseTo: pending.id, signAssertion: sp.signAssertions || sp.descriptor.wantAssertionsSigned, encryptionCertificates: sp.descriptor.encryptionCertificates, attributeProfile: sp.attributeProfile },
      {
        nameId: { format: pending.nameIdFormat, value: nameId },
        authnInstant: new Date(sso.authTime * 1000),
        sessionIndex,
        loaUri: loa.uri,
        authnMethod: authnMethodUri(sso.method),
        attributes: buildClaims(loginRecordOf(sso), person, choice, new Set(pending.attributes)),
        assertionId,
      },
      deps.now(),
      deps.assertionLifetimeMs,
    );
    // Sent together: one wait for the store, not two.
    await Promise.all([
      deps.sessions.addParticipant(sso.id, { protocol: 'saml', clientId: sp.entityId, sessionRef: sessionIndex, nameId: { format: pending.nameIdFormat, value: nameId } }),
      // Who the assertion is about, for as long as it is valid: the RFC 7522 grant maps it back to the account (a pairwise or transient NameID cannot be).
      recordIssuedAssertion(deps.ephemeral, assertionId, { accountId: accountIdOf(sso), spEntityId: sp.entityId }, deps.assertionLifetimeMs),
    ]);
    request.log.info({ decision: 'saml login answered', sp: sp.entityId, requestId: pending.id, loa: sso.loa }, 'saml response sent');
    return sendPage(reply, postPage(pickLocale(request), request.url, pending.acsUrl, { SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: pending.relayState }));
  }

  async function answerWithStatus(request: FastifyRequest, reply: FastifyReply, login: Login, error: SamlStatusError) {
    const { pending } = login;
    if (!(await answerOnce(login))) return sendLoginError(request, reply, 400, loginMessages(pickLocale(request))('hint.expiredTransaction'));
    request.log.info({ decision: 'saml request answered with a status', sp: pending.spEntityId, status: error.status, subStatus: error.subStatus, reason: error.message }, 'saml request not met');
    return sendStatus(request, reply, pending.acsUrl, pending.id, pending.relayState, error);
  }

  async function sendStatus(request: FastifyRequest, reply: FastifyReply, acsUrl: string, inResponseTo: string, relayState: string | undefined, error: SamlStatusError) {
    const xml = await statusResponse(deps.idp, acsUrl, inResponseTo, deps.now(), error.status, error.subStatus, error.message);
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), acsUrl));
    return sendPage(reply, postPage(pickLocale(request), request.url, acsUrl, { SAMLResponse: Buffer.from(xml).toString('base64'), RelayState: relayState }));
  }
}

/**
 * The SAML part of a logout started over OIDC (the SSO session has already
 * ended): stores the chain through the session's SAML SPs and returns the
 * path the browser must visit to run it, which ends at `finishUrl`; null when
 * the session had no SAML SP.
 */
export async function startSamlLogout(store: EphemeralStore, participants: readonly Participant[], finishUrl: string, ttlMs: number): Promise<string | null> {
  const { targets, unreachable } = samlTargets(participants, undefined);
  if (targets.length === 0 && unreachable === 0) return null;
  const key = randomBytes(24).toString('base64url');
  const chain: LogoutChain = { initiator: { finishUrl }, remaining: targets, partial: unreachable > 0 };
  await store.set(oidcLogoutKey(key), JSON.stringify(chain), ttlMs);
  return `${OIDC_LOGOUT_PATH}/${key}`;
}

/** The session's SAML SPs but the one logging out, one target each (its NameID, all its SessionIndexes); those with no NameID on record cannot be told. */
function samlTargets(participants: readonly Participant[], initiator: string | undefined): { targets: SamlLogoutTarget[]; unreachable: number } {
  const bySp = new Map<string, { nameId?: Participant['nameId']; sessionIndexes: string[] }>();
  for (const p of participants) {
    if (p.protocol !== 'saml' || p.clientId === initiator) continue;
    const entry = bySp.get(p.clientId) ?? { sessionIndexes: [] };
    entry.nameId ??= p.nameId;
    if (p.sessionRef) entry.sessionIndexes.push(p.sessionRef);
    bySp.set(p.clientId, entry);
  }
  const targets: SamlLogoutTarget[] = [];
  let unreachable = 0;
  for (const [entityId, entry] of bySp) {
    if (entry.nameId) targets.push({ entityId, nameId: entry.nameId, sessionIndexes: entry.sessionIndexes });
    else unreachable += 1;
  }
  return { targets, unreachable };
}

/** PrincipalSelection as the claim rules read pre-selection (OIDC's `claims` parameter with `values`). */
function pinsOf(pending: PendingRequest): RequestedClaims {
  return { id_token: Object.fromEntries(Object.entries(pending.principalSelection).map(([claim, values]) => [claim, { values }])) };
}
