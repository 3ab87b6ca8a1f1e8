import { aggregateRefreshJob } from './aggregate-job.ts';
import type { FastifyInstance } from 'fastify';
import { createOrderService, type AnswerVerifier, type CardLoginService, type OrderService } from '../../authn/index.ts';
import { loginAttributes } from '../../directory/index.ts';
import type { Part, PartContext, PartFactory } from '../../server/index.ts';
import { oidcFrom, openSealer } from '../oidc/index.ts';
import { createSessionStore } from '../session/index.ts';
import { bearerAssertionVerifier } from './bearer.ts';
import { demoRoutes, ensureDemoSp } from './demo.ts';
import { loadOrCreateIdpKeys, loadOrCreatePairwiseKey } from './keys.ts';
import { samlLoginRoutes, startSamlLogout } from './login.ts';
import { idpEndpoints, idpMetadata } from './metadata.ts';

export { samlConfigSchema, type SamlConfig } from './config.ts';
export { idpEndpoints } from './metadata.ts';
export { addServiceProvider, findServiceProvider, listServiceProviders, removeServiceProvider, ServiceProviderError, type ServiceProvider, type NewServiceProvider } from './sps.ts';
export { registerSpCommands } from './cli.ts';
export { aggregateRefreshJob, AGGREGATE_REFRESH_JOB } from './aggregate-job.ts';

export interface SamlPartOptions {
  /** The authentication service the login pages start orders on (the authentication part's, in the system). */
  readonly orders?: (context: PartContext, started: ReadonlyMap<string, Part>) => OrderService;
  /** Card login over mutual TLS (the authentication part's, in the system); without it SPs get no `mtls`. */
  readonly cardLogins?: (context: PartContext, started: ReadonlyMap<string, Part>) => CardLoginService | undefined;
}

/** Answers reach the authentication part, never this service: refuse any that arrive here. */
const answersVerifiedElsewhere: AnswerVerifier = async () => ({ ok: false, hint: 'certificateErr', reason: 'answers are verified by the authentication part' });

/** LoA URIs of the Swedish eID framework, accepted in requests beside ours. */
const ELEGNAMNDEN_LOA = { 2: 'http://id.elegnamnden.se/loa/1.0/loa2', 3: 'http://id.elegnamnden.se/loa/1.0/loa3' } as const;

/**
 * The SAML 2.0 identity provider part: signed metadata, Web SSO over the
 * Redirect and POST bindings with the login pages and SSO session it shares
 * with the OpenID Provider.
 */
export function makeSamlPart(options: SamlPartOptions = {}): PartFactory {
  return async (context: PartContext, started: ReadonlyMap<string, Part> = new Map()): Promise<Part> => {
    const { config, db, ephemeral } = context;
    const saml = config.saml;
    const endpoints = idpEndpoints(config.server.publicBaseUrl);
    const sealer = await openSealer(config);
    const keys = await loadOrCreateIdpKeys(db, sealer, { entityId: endpoints.entityId, modulusLength: saml.keyBits, now: context.now() });
    const pairwiseKey = await loadOrCreatePairwiseKey(db, sealer);
    const now = () => context.now().getTime();
    // The same session store (and so the same sessions) as the OpenID Provider's.
    const sessions = createSessionStore(ephemeral, { ttlMs: config.oidc.ssoSessionSeconds * 1000, now });
    const orders = options.orders?.(context, started) ?? createOrderService({ store: ephemeral, verifyAnswer: answersVerifiedElsewhere, now });
    const cardLogins = options.cardLogins?.(context, started);
    // Single logout tells the session's OIDC clients through the OpenID Provider, when this process runs it.
    const oidcServices = oidcFrom(started);
    const idp = { entityId: endpoints.entityId, keys, signatureAlgorithm: saml.signatureAlgorithm };
    // RFC 7522: the OpenID Provider's token endpoint trades our assertions; we check them.
    oidcServices?.acceptSamlAssertions(bearerAssertionVerifier({ idp, store: ephemeral, now: context.now, clockSkewMs: saml.clockSkewSeconds * 1000 }));
    // A logout started over OIDC goes on through the session's SAML SPs (the chain of `/saml/slo`).
    oidcServices?.acceptSamlLogout((participants, finishUrl) => startSamlLogout(ephemeral, participants, finishUrl, config.oidc.interactionSeconds * 1000));

    const metadata = () =>
      idpMetadata({
        publicBaseUrl: config.server.publicBaseUrl,
        keys,
        signatureAlgorithm: saml.signatureAlgorithm,
        wantAuthnRequestsSigned: saml.wantAuthnRequestsSigned,
        loaUris: [config.oidc.loa.loa2, config.oidc.loa.loa3],
        organization: { name: saml.organization.name, displayName: saml.organization.displayName, url: saml.organization.url ?? config.server.publicBaseUrl },
        validUntil: new Date(context.now().getTime() + saml.metadataValidDays * 86_400_000),
      });
    // Signed once per hour, not per request: the signature costs a private-key operation.
    let cached: { xml: Promise<string>; madeAt: number } | undefined;
    const currentMetadata = () => {
      if (!cached || now() - cached.madeAt > 3_600_000) cached = { xml: metadata(), madeAt: now() };
      return cached.xml;
    };

    // The built-in demo e-service runs where the demo region does (`demo.seed`), never otherwise.
    const demo = config.demo.seed;
    if (demo) await ensureDemoSp(db, config.server.publicBaseUrl, context.now());

    return {
      name: 'saml',
      // Federation aggregates: one node per slot refreshes them (the jobs lock), not every node on its own timer.
      jobs: [aggregateRefreshJob(saml)],
      title: { sv: 'SAML 2.0', en: 'SAML 2.0' },
      description: {
        sv: 'Inloggning till e-tjänster med SAML 2.0: signerade svar, vårdens attribut, samma inloggning som OpenID Connect.',
        en: 'Login to e-services with SAML 2.0: signed responses, healthcare attributes, the same single sign-on as OpenID Connect.',
      },
      links: [
        ...(demo ? [{ href: '/demo/saml', label: { sv: 'Demo-e-tjänst (logga in med SAML)', en: 'Demo e-service (log in with SAML)' } }] : []),
        { href: '/saml/metadata', label: { sv: 'SAML-metadata', en: 'SAML metadata' } },
      ],
      https: async (app: FastifyInstance) => {
        app.get('/saml/metadata', async (_request, reply) => reply.type('application/samlmetadata+xml').header('cache-control', 'public, max-age=3600').send(await currentMetadata()));
        await app.register(
          samlLoginRoutes({
            idp,
            db,
            ephemeral,
            sessions,
            orders,
            ...(cardLogins ? { cardLogins, publicBaseUrl: config.server.publicBaseUrl } : {}),
            loadPerson: (personnummer) => loginAttributes(db, personnummer),
            pairwiseKey,
            requestEnvironment: {
              ssoUrl: endpoints.sso,
              idpEntityId: endpoints.entityId,
              clockSkewMs: saml.clockSkewSeconds * 1000,
              lifetimeMs: saml.requestLifetimeSeconds * 1000,
              maxBytes: saml.maxRequestBytes,
              wantAuthnRequestsSigned: saml.wantAuthnRequestsSigned,
              loaUris: { 2: [config.oidc.loa.loa2, ELEGNAMNDEN_LOA[2]], 3: [config.oidc.loa.loa3, ELEGNAMNDEN_LOA[3]] },
            },
            sloUrl: endpoints.slo,
            ...(oidcServices ? { backchannelLogout: oidcServices.backchannelLogout } : {}),
            assertionLifetimeMs: saml.assertionSeconds * 1000,
            interactionMs: config.oidc.interactionSeconds * 1000,
            ssoSessionSeconds: config.oidc.ssoSessionSeconds,
            now: context.now,
          }),
        );
        if (demo) await app.register(demoRoutes({ baseUrl: config.server.publicBaseUrl, ephemeral, idpCertificateBase64: keys.signing.certificateBase64, now: context.now }));
      },
      ...(demo ? { seedDemo: async () => [`Demo e-service (SAML): ${config.server.publicBaseUrl}/demo/saml`] } : {}),
    };
  };
}

/** The part with orders on the shared short-lived store (tests); the system passes the authentication part's. */
export const createSamlPart: PartFactory = makeSamlPart();
