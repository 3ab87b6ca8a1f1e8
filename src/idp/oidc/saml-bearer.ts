import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Queryable } from '../../store/index.ts';
import { findClient, SAML2_BEARER } from './clients.ts';

/** Checks an assertion posted for the grant; the SAML IdP supplies it (it holds the keys and knows what it issued). */
export type SamlAssertionVerifier = (assertion: string, audience: string) => Promise<{ readonly ok: true; readonly accountId: string } | { readonly ok: false; readonly reason: string }>;

/**
 * RFC 7522 §2.1 on oidc-provider's token endpoint: a client tied to a SAML SP
 * (`--saml-entity-id`) posts an assertion we issued to that SP and gets an
 * access token for the assertion's subject (scope `openid`, sub pairwise as
 * for its logins). Refused (`invalid_grant`) unless the verifier accepts it;
 * without a verifier (no SAML IdP in this process) every request is refused.
 */
export function registerSamlBearerGrant(provider: Provider, db: Queryable, verifier: () => SamlAssertionVerifier | undefined): void {
  provider.registerGrantType(
    SAML2_BEARER,
    async (ctx) => {
      const { client } = ctx.oidc;
      const record = await findClient(db, client.clientId);
      if (!record?.samlEntityId) throw new errors.UnauthorizedClient('this client is not tied to a SAML service provider');
      const assertion = ctx.oidc.params['assertion'];
      if (typeof assertion !== 'string' || !assertion) throw new errors.InvalidRequest('missing required parameter assertion');
      const verify = verifier();
      if (!verify) throw new errors.InvalidGrant('no SAML identity provider runs here to check the assertion');
      const outcome = await verify(assertion, record.samlEntityId);
      if (!outcome.ok) throw new errors.InvalidGrant(outcome.reason);
      const grant = new provider.Grant({ accountId: outcome.accountId, clientId: client.clientId });
      grant.addOIDCScope('openid');
      const grantId = await grant.save();
      const token = new provider.AccessToken({ accountId: outcome.accountId, client, grantId, scope: 'openid', gty: SAML2_BEARER });
      ctx.oidc.entity('AccessToken', token);
      const value = await token.save();
      ctx.body = { access_token: value, expires_in: token.expiration, token_type: token.tokenType, scope: 'openid' };
    },
    ['assertion', 'scope'],
  );
}
