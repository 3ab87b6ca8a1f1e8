import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { peerCertificatePem, subjectDnMatches, type FunctionClientCheck } from '../../authn/index.ts';

/**
 * RFC 8705 client authentication (`tls_client_auth`) with a function client
 * certificate. oidc-provider's hooks are synchronous, so the certificate is
 * checked (chain, validity, revocation) when the request arrives on the
 * alias listener and the verdict kept beside the raw request for them.
 */
const verdicts = new WeakMap<IncomingMessage, { pem: string; authorized: boolean }>();

/** The endpoints a `tls_client_auth` client calls, under the alias listener's base URL. */
export const ALIASED_PATHS = { token_endpoint: '/oidc/token', introspection_endpoint: '/oidc/token/introspection', revocation_endpoint: '/oidc/token/revocation', userinfo_endpoint: '/oidc/me' } as const;

export function mtlsEndpointAliases(baseUrl: string): Record<string, string> {
  return Object.fromEntries(Object.entries(ALIASED_PATHS).map(([name, path]) => [name, `${baseUrl}${path}`]));
}

export function mtlsFeature(): NonNullable<NonNullable<Configuration['features']>['mTLS']> {
  const verdictOf = (ctx: KoaContextWithOIDC) => verdicts.get(ctx.req);
  return {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: false,
    certificateBoundAccessTokens: false,
    getCertificate: (ctx) => verdictOf(ctx)?.pem as never,
    certificateAuthorized: (ctx) => verdictOf(ctx)?.authorized === true,
    certificateSubjectMatches: (ctx, property, expected) => {
      const pem = verdictOf(ctx)?.pem;
      // Only the subject DN is registered (clients add); any other property never matches.
      return property === 'tls_client_auth_subject_dn' && pem !== undefined && subjectDnMatches(pem, expected);
    },
  };
}

/** Checks the request's client certificate and keeps the verdict for the hooks above; refusals are logged once, here. */
export async function checkRequestCertificate(request: FastifyRequest, check: (pem: string | undefined) => Promise<FunctionClientCheck>): Promise<void> {
  const pem = peerCertificatePem(request);
  if (!pem) return;
  const verdict = await check(pem);
  if (!verdict.ok) request.log.info({ decision: 'oidc client certificate refused', reason: verdict.reason }, 'tls_client_auth certificate refused');
  verdicts.set(request.raw, { pem, authorized: verdict.ok });
}
