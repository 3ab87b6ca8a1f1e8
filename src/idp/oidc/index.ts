import { randomBytes, type JsonWebKey } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { createOrderService, type AnswerVerifier, type AuthnServices, type CardLoginService, type ClientCertificateListener, type OrderService } from '../../authn/index.ts';
import { loginAttributes, type PersonView } from '../../directory/index.ts';
import type { Part, PartContext, PartFactory } from '../../server/index.ts';
import { serverHostNames } from '../../config/index.ts';
import type { Database } from '../../store/index.ts';
import { accountIdOf, createSessionStore, readCookie, sessionCookie, SSO_COOKIE, type Participant } from '../session/index.ts';
import { demoRoutes, ensureDemoClient } from './demo.ts';
import { interactionRoutes } from './interactions.ts';
import { ALIASED_PATHS, checkRequestCertificate } from './mtls.ts';
import { rotateSigningKeys, type RotationPolicy } from './keys.ts';
import { buildProvider } from './provider.ts';
import { registerSamlBearerGrant, type SamlAssertionVerifier } from './saml-bearer.ts';
import { createSealer, loadEncryptionKey, type Sealer } from './sealing.ts';

export { oidcConfigSchema, type OidcConfig } from './config.ts';
export { addClient, findClient, listClients, removeClient, rotateClientSecret, ClientError, LOGIN_METHODS, type ClientRecord, type NewClient, type LoginMethod } from './clients.ts';
export { SCOPES, CLAIM_NAMES, DEFAULT_ALLOWED_CLAIMS } from '../claims/index.ts';
export { planRotation, type RotationPolicy, type RotationStep } from './keys.ts';
export { openSealer } from './secrets.ts';
export { clientMetadata, SAML2_BEARER } from './clients.ts';
export { inProcessRelyingParty, type InProcessRelyingPartyOptions } from './relying-party.ts';
export type { SamlAssertionVerifier } from './saml-bearer.ts';
export type { Sealer } from './sealing.ts';

/** What the OpenID Provider offers the parts after it: back-channel logout notices (single logout started elsewhere). */
export interface OidcServices {
  /**
   * Posts a back-channel logout token to each OIDC participant of an ended SSO
   * session; `true` for each one that was told (a client without a
   * back-channel URI, or one that did not answer 200/204, was not).
   */
  backchannelLogout(participants: readonly Participant[], accountId: string): Promise<readonly { readonly clientId: string; readonly told: boolean }[]>;
  /** The SAML IdP, started after us, hands over how to check the assertions of the RFC 7522 grant. */
  acceptSamlAssertions(verifier: SamlAssertionVerifier): void;
  /** The SAML IdP hands over how a logout started here reaches the session's SAML SPs (see `SamlLogoutStarter`). */
  acceptSamlLogout(starter: SamlLogoutStarter): void;
}

/**
 * Stores the front-channel logout through the SAML SPs among `participants`
 * and returns the path the browser must visit to run it, ending at
 * `finishUrl`; null when there is no SAML SP to tell.
 */
export type SamlLogoutStarter = (participants: readonly Participant[], finishUrl: string) => Promise<string | null>;

/** The OpenID Provider's services, or undefined when this process does not run it. */
export function oidcFrom(started: ReadonlyMap<string, Part>): OidcServices | undefined {
  return started.get('oidc')?.provides as OidcServices | undefined;
}

export interface OidcPartOptions {
  /**
   * The authentication service the login pages start orders on. The IdP only
   * starts, collects and cancels; the app's answers are verified by whoever
   * serves `/app/v1` (the authentication part).
   */
  readonly orders?: (context: PartContext, started: ReadonlyMap<string, Part>) => OrderService;
  /** Card login over mutual TLS (method `mtls`); without it the login pages do not offer it. */
  readonly cardLogins?: (context: PartContext, started: ReadonlyMap<string, Part>) => CardLoginService | undefined;
  /** Listens for and checks function client certificates (RFC 8705 `tls_client_auth`); without it the method is not offered. */
  readonly functionClients?: (context: PartContext, started: ReadonlyMap<string, Part>) => Pick<AuthnServices, 'openClientCertificateListener' | 'checkFunctionClient'>;
  /** How often this node looks for due key rotations. */
  readonly keyCheckIntervalMs?: number;
}

/** Answers reach the authentication part, never this service: refuse any that arrive here. */
const answersVerifiedElsewhere: AnswerVerifier = async () => ({ ok: false, hint: 'certificateErr', reason: 'answers are verified by the authentication part' });

/** The OpenID Provider part with its dependencies chosen by the caller. */
export function makeOidcPart(options: OidcPartOptions = {}): PartFactory {
  return async (context: PartContext, started: ReadonlyMap<string, Part> = new Map()) => {
    const { config, db, ephemeral, log } = context;
    const oidc = config.oidc;
    const now = () => context.now().getTime();
    const issuer = `${config.server.publicBaseUrl}/oidc`;
    const sealer = createSealer(await loadEncryptionKey(oidc.encryptionKey, config.dataDir));
    const secrets = await installationSecrets(db, sealer);
    const sessions = createSessionStore(ephemeral, { ttlMs: oidc.ssoSessionSeconds * 1000, now });
    const orders = options.orders?.(context, started) ?? createOrderService({ store: ephemeral, verifyAnswer: answersVerifiedElsewhere, now });
    const cardLogins = options.cardLogins?.(context, started);
    const functionClients = oidc.mtls.enabled ? options.functionClients?.(context, started) : undefined;
    let aliasListener: ClientCertificateListener | undefined;
    let mtlsAliasBaseUrl: string | undefined;
    if (functionClients) {
      aliasListener = await functionClients.openClientCertificateListener({
        hostNames: serverHostNames(config.server.publicBaseUrl),
        port: oidc.mtls.port,
        folder: 'tls-oidc-mtls',
        routes: providerRoutes(() => provider, { paths: Object.values(ALIASED_PATHS), prepare: (request) => checkRequestCertificate(request, functionClients.checkFunctionClient) }),
      });
      // URL's hostname keeps an IPv6 address's brackets.
      mtlsAliasBaseUrl = oidc.mtls.publicBaseUrl ?? `https://${new URL(config.server.publicBaseUrl).hostname}:${aliasListener.port}`;
    }
    const loadPerson = (personnummer: string): Promise<PersonView | null> => loginAttributes(db, personnummer);
    const policy: RotationPolicy = {
      rotationMs: oidc.keyRotationDays * 86_400_000,
      publishAheadMs: oidc.keyPublishAheadHours * 3_600_000,
      // ID tokens expire soonest, but an old one may still come back as logout's id_token_hint while its refresh token lives.
      keepRetiredMs: Math.max(oidc.idTokenSeconds, oidc.accessTokenSeconds, oidc.refreshTokenSeconds) * 1000,
    };
    const build = (signingKeys: JsonWebKey[]) => {
      const provider = buildProvider({ issuer, config: oidc, db, ephemeral, sealer, sessions, signingKeys, cookieKeys: secrets.cookieKeys, pairwiseKey: secrets.pairwiseKey, loadPerson, now, ...(mtlsAliasBaseUrl ? { mtlsAliasBaseUrl } : {}) });
      // X-Forwarded-* only from a proxy the configuration trusts.
      provider.proxy = config.server.trustProxy;
      provider.on('server_error', (_ctx, error) => log.error({ err: error }, 'oidc provider error'));
      // Every refusal the protocol makes is logged once, here, with its code (never a token or secret).
      for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'introspection.error', 'revocation.error', 'end_session.error'] as const) {
        (provider as unknown as EventEmitter).on(event, (ctx: { oidc?: { client?: { clientId: string } } }, error: Error & { error?: string; error_description?: string; error_detail?: string }) =>
          log.info({ decision: `oidc ${event}`, error: error.error, description: error.error_description, detail: error.error_detail, clientId: ctx.oidc?.client?.clientId }, 'oidc request refused'),
        );
      }
      provider.on('backchannel.error', (_ctx, error, client) => log.warn({ err: error, clientId: client.clientId }, 'back-channel logout notice failed'));
      registerSamlBearerGrant(provider, db, () => samlAssertionVerifier);
      provider.use(async (ctx, next) => {
        await next();
        // "Log out of every e-service" confirmed: the SSO session ends too ("stay logged in" logs out only the client that asked).
        if (ctx.oidc?.route !== 'end_session_confirm' || ctx.status !== 303 || !ctx.oidc.params?.['logout']) return;
        const { session } = ctx.oidc;
        const toldByProvider = new Set(Object.keys(session?.authorizations ?? {}).map((clientId) => `${clientId} ${session!.sidFor(clientId) ?? ''}`));
        ctx.append('set-cookie', sessionCookie(null, 0));
        const detour = await logoutEverywhere(ctx.get('cookie'), toldByProvider, ctx.response.get('location'));
        if (detour) ctx.redirect(detour);
      });
      // The SSO session's participant with oidc-provider's `sid` for it: a logout started over SAML can then tell the client.
      provider.on('authorization.success', (ctx) => {
        const ssoId = readCookie(ctx.get('cookie'), SSO_COOKIE);
        const clientId = ctx.oidc.client?.clientId;
        const sid = clientId ? ctx.oidc.session?.sidFor(clientId) : undefined;
        if (ssoId && clientId && sid) sessions.addParticipant(ssoId, { protocol: 'oidc', clientId, sessionRef: sid }).catch((error: unknown) => log.error({ err: error }, 'recording an SSO participant failed'));
      });
      return provider;
    };
    /**
     * After oidc-provider ended its own session (and told its clients over the
     * back channel): the SSO session ends, OIDC participants oidc-provider did
     * not know of are told over the back channel, and when the session had SAML
     * SPs the browser's next stop is their front-channel chain, which ends at
     * oidc-provider's redirect (`finishUrl`). Returns that detour, or null.
     */
    const logoutEverywhere = async (cookieHeader: string, toldByProvider: ReadonlySet<string>, finishUrl: string): Promise<string | null> => {
      try {
        const sso = await sessions.get(readCookie(cookieHeader, SSO_COOKIE));
        if (!sso) return null;
        const participants = await sessions.end(sso.id);
        const untold = participants.filter((p) => p.protocol === 'oidc' && !toldByProvider.has(`${p.clientId} ${p.sessionRef ?? ''}`));
        if (untold.length) await services.backchannelLogout(untold, accountIdOf(sso));
        const detour = samlLogoutStarter ? await samlLogoutStarter(participants, finishUrl) : null;
        log.info({ decision: 'oidc logout ended the sso session', participants: participants.length, toldHere: untold.length, samlChain: Boolean(detour) }, 'oidc logout ended the sso session');
        return detour;
      } catch (error) {
        // The person's logout at oidc-provider has happened; what could not be done here is logged, and they still reach the client.
        log.error({ err: error }, 'ending the SSO session failed');
        return null;
      }
    };
    let keys = await rotateSigningKeys(db, sealer, oidc.signingAlg, policy, context.now());
    let provider: Provider = build(keys);
    // Each node rebuilds its provider when the key set changes (keys are fixed per oidc-provider instance).
    const timer = setInterval(() => {
      rotateSigningKeys(db, sealer, oidc.signingAlg, policy, context.now())
        .then((fresh) => {
          if (fingerprint(fresh) === fingerprint(keys)) return;
          keys = fresh;
          provider = build(fresh);
          log.info({ kids: fresh.map((k) => `${k.kid}:${(k.key_ops as string[] | undefined)?.join('+') ?? 'sign'}`) }, 'oidc signing keys changed');
        })
        .catch((error: unknown) => log.error({ err: error }, 'oidc key rotation failed'));
    }, options.keyCheckIntervalMs ?? 60_000);
    timer.unref();

    // The built-in demo e-service runs where the demo region does (`demo.seed`), never otherwise.
    const demo = config.demo.seed;
    if (demo) await ensureDemoClient(db, sealer, config.server.publicBaseUrl);

    let samlAssertionVerifier: SamlAssertionVerifier | undefined;
    let samlLogoutStarter: SamlLogoutStarter | undefined;
    const services: OidcServices = {
      acceptSamlAssertions(verifier) {
        samlAssertionVerifier = verifier;
      },
      acceptSamlLogout(starter) {
        samlLogoutStarter = starter;
      },
      async backchannelLogout(participants, accountId) {
        const unique = new Map(participants.filter((p) => p.protocol === 'oidc').map((p) => [`${p.clientId} ${p.sessionRef ?? ''}`, p]));
        return Promise.all(
          [...unique.values()].map(async ({ clientId, sessionRef }) => {
            const found = await provider.Client.find(clientId);
            const client = found as (typeof found & { backchannelLogout(sub: string, sid: string | undefined): Promise<void> }) | undefined;
            if (!client?.backchannelLogoutUri || !sessionRef) return { clientId, told: false };
            try {
              // oidc-provider makes the logout token (pairwise sub, sid, events) and posts it, as for its own logout.
              await client.backchannelLogout(accountId, sessionRef);
              log.info({ decision: 'oidc back-channel logout sent', clientId }, 'back-channel logout notice sent');
              return { clientId, told: true };
            } catch (error) {
              log.warn({ err: error, clientId }, 'back-channel logout notice failed');
              return { clientId, told: false };
            }
          }),
        );
      },
    };

    const part: Part = {
      name: 'oidc',
      provides: services,
      title: { sv: 'OpenID Connect', en: 'OpenID Connect' },
      description: {
        sv: 'Inloggning till e-tjänster med OpenID Connect: SITHS eID, val av uppdrag, vårdens attribut.',
        en: 'Login to e-services with OpenID Connect: SITHS eID, choice of commission, healthcare claims.',
      },
      links: [
        ...(demo ? [{ href: '/demo', label: { sv: 'Demo-e-tjänst (logga in med OpenID Connect)', en: 'Demo e-service (log in with OpenID Connect)' } }] : []),
        { href: '/oidc/.well-known/openid-configuration', label: { sv: 'OpenID Connect discovery', en: 'OpenID Connect discovery' } },
      ],
      https: async (app: FastifyInstance) => {
        await app.register(interactionRoutes({ provider: () => provider, config: oidc, db, ephemeral, sessions, orders, ...(cardLogins ? { cardLogins, publicBaseUrl: config.server.publicBaseUrl } : {}), loadPerson, now }));
        await app.register(providerRoutes(() => provider));
        if (demo) await app.register(demoRoutes({ baseUrl: config.server.publicBaseUrl, db, sealer, ephemeral }));
        app.get('/.well-known/openid-configuration', async (_request, reply) => reply.redirect('/oidc/.well-known/openid-configuration', 308));
      },
      ...(demo ? { seedDemo: async () => [`Demo e-service (OpenID Connect): ${config.server.publicBaseUrl}/demo`] } : {}),
      async stop() {
        clearInterval(timer);
        await aliasListener?.close();
      },
    };
    return part;
  };
}

/** The part as the system registers it: orders on the shared short-lived store. */
export const createOidcPart: PartFactory = makeOidcPart();

const fingerprint = (keys: readonly JsonWebKey[]) => keys.map((k) => `${k.kid}:${(k.key_ops as string[] | undefined)?.join('+') ?? 'sign'}`).join(',');

/**
 * oidc-provider (a Koa app) answers everything under `/oidc` on the raw
 * request: Fastify must not read the body first, so this plugin parses none,
 * and the page headers (CSP, frame denial) are copied onto the raw response.
 */
function providerRoutes(provider: () => Provider, options: { paths?: readonly string[]; prepare?: (request: FastifyRequest) => Promise<void> } = {}) {
  // callback() composes the Koa middleware: once per provider instance, not per request.
  const handlers = new WeakMap<Provider, ReturnType<Provider['callback']>>();
  const handlerOf = (current: Provider) => {
    let handler = handlers.get(current);
    if (!handler) handlers.set(current, (handler = current.callback()));
    return handler;
  };
  return async (app: FastifyInstance) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      await options.prepare?.(request);
      reply.hijack();
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value as string);
      const raw = request.raw as typeof request.raw & { originalUrl?: string };
      raw.originalUrl = raw.url;
      raw.url = raw.url!.slice('/oidc'.length) || '/';
      await handlerOf(provider())(raw, reply.raw);
    };
    for (const path of options.paths ?? ['/oidc', '/oidc/*']) app.all(path, handler);
  };
}

/** Cookie-signing keys and the pairwise-sub key: made once per installation, shared by every node. */
async function installationSecrets(db: Database, sealer: Sealer): Promise<{ cookieKeys: string[]; pairwiseKey: Uint8Array }> {
  const read = async (name: string) => {
    await db.query('insert into oidc_secrets (name, value_encrypted) values ($1, $2) on conflict (name) do nothing', [name, sealer.seal(randomBytes(32).toString('base64url'), `secret:${name}`)]);
    const [row] = await db.query<{ value: Uint8Array }>('select value_encrypted as value from oidc_secrets where name = $1', [name]);
    return sealer.open(row!.value, `secret:${name}`);
  };
  return { cookieKeys: [await read('cookie-key')], pairwiseKey: Buffer.from(await read('pairwise-key'), 'base64url') };
}
