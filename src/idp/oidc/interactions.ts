import { parse as parseForm } from 'node:querystring';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type Provider from 'oidc-provider';
import { accountIdOf, loginRecordOf, type AuthnMethod, type SsoSession } from '../session/index.ts';
import { grantedClaims, parseClaimsParameter, pinnedValues, SCOPES, type Choice, type RequestedClaims } from '../claims/index.ts';
import { findClient, type ClientRecord } from './clients.ts';
import type { OidcConfig } from './config.ts';
import { createLoginRouter, widenFormAction, type LoginAdapter, type LoginFailure, type LoginRequest, type LoginServices } from '../login/index.ts';
import { acrOf, grantRecordKey, minimumLoaOf, type GrantRecord } from './provider.ts';

export interface InteractionDependencies extends LoginServices {
  readonly provider: () => Provider;
  readonly config: OidcConfig;
  readonly db: Parameters<typeof findClient>[0];
  readonly now: () => number;
}

/** oidc-provider's interaction as the login steps need it: who asks, for what, and what they pinned. */
interface Interaction extends LoginRequest {
  readonly client: ClientRecord;
  readonly prompt: string;
  readonly params: Record<string, unknown>;
  readonly requested: RequestedClaims;
  readonly granted: Set<string>;
  readonly minimumLoa: 2 | 3 | undefined;
  readonly maxAge: number | undefined;
}

/** `amr` values: the method, except card login, which is TLS client authentication (domain.md §9). */
export const TLS_CLIENT_AMR = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';
const amrOf = (method: AuthnMethod) => (method === 'mtls' ? TLS_CLIENT_AMR : method);

/**
 * The login steps under `/oidc/interaction/:uid` (src/idp/login), ending back
 * at oidc-provider without a consent page.
 */
export function interactionRoutes(deps: InteractionDependencies) {
  const adapter: LoginAdapter<Interaction> = {
    protocol: 'oidc',
    prefix: '/oidc/interaction',
    find,
    logFields: (login) => ({ clientId: login.client.clientId }),
    requirements(login) {
      const one = (name: string) => {
        const pins = pinnedValues(login.requested, name);
        return pins?.size === 1 ? [...pins][0]! : undefined;
      };
      const person = one('personalIdentityNumber');
      const hsaId = one('employeeHsaId');
      return { ...(person ? { personalIdentityNumber: person } : {}), ...(hsaId ? { hsaId } : {}), ...(login.minimumLoa ? { minimumLoa: login.minimumLoa } : {}) };
    },
    claims: (login) => ({ granted: login.granted, requested: login.requested }),
    async accepts(login, sso, ownAuthentication) {
      if (String(login.params['prompt'] ?? '').split(' ').includes('login') && login.prompt === 'login' && !(await ownAuthentication())) return false;
      if (login.maxAge !== undefined && Math.floor(deps.now() / 1000) - sso.authTime > login.maxAge) return false;
      return !(login.minimumLoa && sso.loa < login.minimumLoa);
    },
    // oidc-provider keeps the interaction.
    keep: async () => {},
    complete: (request, reply, login, sso, _person, choice) => complete(request, reply, login, sso, choice),
    fail,
  };
  const router = createLoginRouter({ ...deps, interactionMs: deps.config.interactionSeconds * 1000, ssoSessionSeconds: deps.config.ssoSessionSeconds }, adapter);
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => done(null, parseForm(body as string)));
    await router.routes(app);
  };

  async function find(request: FastifyRequest, reply: FastifyReply, uid: string) {
    let details;
    try {
      details = await deps.provider().interactionDetails(request.raw, reply.raw);
    } catch {
      return 'hint.expiredTransaction' as const;
    }
    reply.header('content-security-policy', widenFormAction(String(reply.getHeader('content-security-policy') ?? ''), details.params['redirect_uri']));
    if (details.uid !== uid) return 'hint.expiredTransaction' as const;
    const client = await findClient(deps.db, String(details.params['client_id']));
    if (!client) return 'error.unknownClient' as const;
    const requested = parseClaimsParameter(details.params['claims']);
    const maxAge = details.params['max_age'] === undefined ? undefined : Number(details.params['max_age']);
    return {
      key: details.uid,
      requester: { clientId: `oidc:${client.clientId}`, displayName: client.displayName },
      methods: client.methods,
      client,
      prompt: details.prompt.name,
      params: details.params,
      requested,
      granted: grantedClaims(String(details.params['scope'] ?? ''), requested, new Set(client.allowedClaims)),
      minimumLoa: minimumLoaOf(deps.config, details.params['acr_values']),
      maxAge: Number.isFinite(maxAge) ? maxAge : undefined,
    } satisfies Interaction;
  }

  /** Grants what the client asked for and may receive (the rest rejected, so no consent page), then hands back to oidc-provider. */
  async function complete(request: FastifyRequest, reply: FastifyReply, login: Interaction, sso: SsoSession, choice: Choice) {
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
    const record: GrantRecord = { login: loginRecordOf(sso), choice, granted: [...login.granted] };
    await deps.ephemeral.set(grantRecordKey(grantId), JSON.stringify(record), deps.config.refreshTokenSeconds * 1000);
    return finish(request, reply, {
      login: { accountId, acr: acrOf(deps.config, sso.loa), amr: [amrOf(sso.method)], ts: sso.authTime, remember: true },
      consent: { grantId },
    });
  }

  async function fail(request: FastifyRequest, reply: FastifyReply, login: Interaction, failure: LoginFailure) {
    switch (failure.kind) {
      case 'cancelled':
        return finish(request, reply, { error: 'access_denied', error_description: 'the person cancelled the login' });
      case 'impossible':
        request.log.info({ decision: 'oidc principal mismatch', clientId: login.client.clientId }, failure.reason);
        return finish(request, reply, { error: 'access_denied', error_description: failure.reason });
    }
  }

  async function finish(request: FastifyRequest, reply: FastifyReply, result: Record<string, unknown>) {
    const url = await deps.provider().interactionResult(request.raw, reply.raw, result, { mergeWithLastSubmission: false });
    return reply.redirect(url, 303);
  }
}
