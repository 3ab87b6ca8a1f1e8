import type { FastifyInstance } from 'fastify';
import type { Part, PartContext, PartFactory } from '../../server/index.ts';
import { openSealer } from '../oidc/index.ts';
import { loadOrCreateIdpKeys, type IdpKeys } from './keys.ts';
import { idpEndpoints, idpMetadata } from './metadata.ts';

export { samlConfigSchema, type SamlConfig } from './config.ts';
export { idpEndpoints } from './metadata.ts';

/** The SAML 2.0 identity provider part: metadata now; Web SSO and logout share the OIDC provider's SSO session. */
export const createSamlPart: PartFactory = async (context: PartContext): Promise<Part> => {
  const { config, db } = context;
  const saml = config.saml;
  const endpoints = idpEndpoints(config.server.publicBaseUrl);
  const keys: IdpKeys = await loadOrCreateIdpKeys(db, await openSealer(config), { entityId: endpoints.entityId, modulusLength: saml.keyBits, now: context.now() });

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
  let cached: { xml: string; madeAt: number } | undefined;
  const currentMetadata = () => {
    const now = context.now().getTime();
    if (!cached || now - cached.madeAt > 3_600_000) cached = { xml: metadata(), madeAt: now };
    return cached.xml;
  };

  return {
    name: 'saml',
    title: { sv: 'SAML 2.0', en: 'SAML 2.0' },
    description: {
      sv: 'Inloggning till e-tjänster med SAML 2.0: signerade svar, vårdens attribut, samma inloggning som OpenID Connect.',
      en: 'Login to e-services with SAML 2.0: signed responses, healthcare attributes, the same single sign-on as OpenID Connect.',
    },
    links: [{ href: '/saml/metadata', label: { sv: 'SAML-metadata', en: 'SAML metadata' } }],
    https: async (app: FastifyInstance) => {
      app.get('/saml/metadata', async (_request, reply) => reply.type('application/samlmetadata+xml').header('cache-control', 'public, max-age=3600').send(currentMetadata()));
    },
  };
};
