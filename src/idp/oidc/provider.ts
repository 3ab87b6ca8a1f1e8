import { createHmac, type JsonWebKey } from 'node:crypto';
import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { PersonView } from '../../directory/index.ts';
import type { Database, EphemeralStore } from '../../store/index.ts';
import { readCookie, SSO_COOKIE, type LoginRecord, type SessionStore } from '../session/index.ts';
import { ephemeralAdapter } from './adapter.ts';
import { buildClaims, grantedClaims, mayNeedChoice, parseClaimsParameter, SCOPES, type Choice } from '../claims/index.ts';
import { clientMetadata, findClient, type ClientRecord } from './clients.ts';
import type { OidcConfig } from './config.ts';
import { renderLogoutPage, renderOidcError, renderLoggedOutPage } from './pages.ts';
import { mtlsEndpointAliases, mtlsFeature } from './mtls.ts';
import type { Sealer } from './sealing.ts';

/** What one client login leaves behind for the tokens of its grant: who, how, and what they chose. */
export interface GrantRecord {
  readonly login: LoginRecord;
  readonly choice: Choice;
  readonly granted: readonly string[];
}

export interface ProviderDependencies {
  readonly issuer: string;
  readonly config: OidcConfig;
  readonly db: Database;
  readonly ephemeral: EphemeralStore;
  readonly sealer: Sealer;
  readonly sessions: SessionStore;
  readonly signingKeys: readonly JsonWebKey[];
  readonly cookieKeys: readonly string[];
  readonly pairwiseKey: Uint8Array;
  readonly loadPerson: (personnummer: string) => Promise<PersonView | null>;
  readonly now: () => number;
  /** Base URL of the RFC 8705 endpoint aliases (client certificates asked for there); none: no `tls_client_auth`. */
  readonly mtlsAliasBaseUrl?: string;
}

export const grantRecordKey = (grantId: string) => `idp:grant:${grantId}`;

/** The LoA URI for a level, and back. */
export function acrOf(config: OidcConfig, loa: number): string {
  return loa >= 3 ? config.loa.loa3 : config.loa.loa2;
}

/** The LoA a request insists on: 3 when `acr_values` names only LoA 3 (reserve cards ruled out); otherwise none. */
export function minimumLoaOf(config: OidcConfig, acrValues: unknown): 3 | undefined {
  const values = String(acrValues ?? '').split(' ').filter(Boolean);
  return values.length && values.every((v) => v === config.loa.loa3) ? 3 : undefined;
}

/**
 * oidc-provider configured for Tillit: clients from the database, models on
 * the short-lived store, claims from the directory, login through our pages.
 */
export function buildProvider(deps: ProviderDependencies): Provider {
  const { config } = deps;
  const clients = clientCache(deps);
  // As domain.md §9: scope openid carries acr, amr and auth_time besides sub.
  const claimsConfig: Record<string, string[] | null> = { openid: ['sub', 'acr', 'amr', 'auth_time'], sid: null };
  for (const [scope, claims] of Object.entries(SCOPES)) claimsConfig[scope] = [...claims];
  const configuration: Configuration = {
    adapter: ephemeralAdapterFor(deps, clients),
    clients: [],
    jwks: { keys: deps.signingKeys as never[] },
    cookies: { keys: [...deps.cookieKeys], long: { signed: true }, short: { signed: true } },
    claims: claimsConfig,
    scopes: ['openid', 'offline_access', ...Object.keys(SCOPES)],
    acrValues: [config.loa.loa3, config.loa.loa2],
    subjectTypes: ['pairwise', 'public'],
    // Per client, not per redirect host (OIDC's sector default): two e-services on one host must not share a sub.
    pairwiseIdentifier: async (_ctx, accountId, client) => pairwiseSub(deps.pairwiseKey, client.clientId, accountId),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', ...(deps.mtlsAliasBaseUrl ? (['tls_client_auth'] as const) : []), 'none'],
    ...(deps.mtlsAliasBaseUrl ? { discovery: { mtls_endpoint_aliases: mtlsEndpointAliases(deps.mtlsAliasBaseUrl) } } : {}),
    pkce: { required: () => true },
    responseTypes: ['code'],
    // E-services read who logged in from the ID token (the issue's contract), so scope claims go there too, not only to userinfo.
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource: renderLogoutPage, postLogoutSuccessSource: renderLoggedOutPage },
      backchannelLogout: { enabled: true },
      userinfo: { enabled: true },
      ...(deps.mtlsAliasBaseUrl ? { mTLS: mtlsFeature() } : {}),
    },
    ttl: {
      AuthorizationCode: config.authorizationCodeSeconds,
      AccessToken: config.accessTokenSeconds,
      IdToken: config.idTokenSeconds,
      RefreshToken: config.refreshTokenSeconds,
      Interaction: config.interactionSeconds,
      Session: config.ssoSessionSeconds,
      Grant: config.refreshTokenSeconds,
    },
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    interactions: {
      url: (_ctx, interaction) => `/oidc/interaction/${interaction.uid}`,
      policy: loginPolicy(deps, clients),
    },
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session?.grantIdFor(ctx.oidc.client!.clientId);
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    findAccount: async (_ctx, accountId, token) => ({
      accountId,
      claims: async () => {
        const record = token?.grantId ? await readGrantRecord(deps.ephemeral, token.grantId) : null;
        // Nothing granted beyond the protocol claims: no directory read.
        if (!record || record.granted.length === 0) return { sub: accountId };
        const person = record.login.subject.personalIdentityNumber ? await deps.loadPerson(record.login.subject.personalIdentityNumber) : null;
        return { sub: accountId, ...buildClaims(record.login, person, record.choice, new Set(record.granted)) };
      },
    }),
    renderError: renderOidcError,
    ...(config.allowPrivateNetworkCalls ? { fetch: withoutAddressCheck } : {}),
    enabledJWA: { idTokenSigningAlgValues: [config.signingAlg, 'RS256'], requestObjectSigningAlgValues: ['RS256', 'PS256', 'ES256'], clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'] },
  };
  return new Provider(deps.issuer, configuration);
}

/** oidc-provider's outgoing fetch without its dispatcher, which refuses private and loopback addresses. */
const withoutAddressCheck = (url: string | URL | Request, options?: RequestInit) => {
  const { dispatcher: _refusesPrivateAddresses, ...rest } = (options ?? {}) as RequestInit & { dispatcher?: unknown };
  return fetch(url, rest);
};

/**
 * Client lookups for the hot path (every authorize and token request), kept a
 * few seconds per node: a removed client or a rotated secret takes effect
 * within `CLIENT_CACHE_MS` everywhere.
 */
export const CLIENT_CACHE_MS = 5_000;
function clientCache(deps: ProviderDependencies) {
  const cached = new Map<string, { at: number; value: Promise<{ metadata: Record<string, unknown> | undefined; record: ClientRecord | null }> }>();
  return (clientId: string) => {
    const hit = cached.get(clientId);
    if (hit && deps.now() - hit.at < CLIENT_CACHE_MS) return hit.value;
    const value = Promise.all([clientMetadata(deps.db, deps.sealer, clientId), findClient(deps.db, clientId)]).then(([metadata, record]) => ({ metadata, record }));
    // A failed lookup is not remembered.
    value.catch(() => cached.delete(clientId));
    if (cached.size > 10_000) cached.clear();
    cached.set(clientId, { at: deps.now(), value });
    return value;
  };
}

function ephemeralAdapterFor(deps: ProviderDependencies, clients: ReturnType<typeof clientCache>) {
  const Models = ephemeralAdapter(deps.ephemeral, deps.config.refreshTokenSeconds * 1000, deps.now);
  // Clients come from the durable registry; everything else is short-lived.
  return class TillitAdapter extends Models {
    override async find(id: string) {
      if (this.model === 'Client') return (await clients(id)).metadata as never;
      return super.find(id);
    }
  };
}

export async function readGrantRecord(store: EphemeralStore, grantId: string): Promise<GrantRecord | null> {
  const raw = await store.get(grantRecordKey(grantId));
  return raw ? (JSON.parse(raw) as GrantRecord) : null;
}

/** The same person gets a different, stable `sub` at each client, so clients cannot link people by it. */
export function pairwiseSub(key: Uint8Array, sector: string, accountId: string): string {
  return createHmac('sha256', key).update(`${sector}\n${accountId}`).digest('base64url');
}

/**
 * oidc-provider's default prompts, plus one rule: the login pages run unless
 * the shared SSO session is alive for the same person and the request needs
 * no choice of service identity or commission (chosen per login, §8).
 */
function loginPolicy(deps: ProviderDependencies, clients: ReturnType<typeof clientCache>) {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(
    new interactionPolicy.Check('tillit_sso', 'the shared SSO session is missing, or a choice is needed', 'interaction_required', async (ctx: KoaContextWithOIDC) => {
      const { oidc } = ctx;
      if (oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const sso = await deps.sessions.get(readCookie(ctx.get('cookie'), SSO_COOKIE));
      if (!sso || !oidc.session?.accountId || oidc.session.accountId !== (sso.subject.personalIdentityNumber ?? sso.subject.hsaId)) return interactionPolicy.Check.REQUEST_PROMPT;
      if ((minimumLoaOf(deps.config, oidc.params?.['acr_values']) ?? 0) > sso.loa) return interactionPolicy.Check.REQUEST_PROMPT;
      const { record: client } = await clients(oidc.client!.clientId);
      let requested;
      try {
        requested = parseClaimsParameter(oidc.params?.['claims']);
      } catch {
        return interactionPolicy.Check.REQUEST_PROMPT;
      }
      const granted = grantedClaims(String(oidc.params?.['scope'] ?? ''), requested, new Set(client?.allowedClaims ?? []));
      return mayNeedChoice(granted) ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}

