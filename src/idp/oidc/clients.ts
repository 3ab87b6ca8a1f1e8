import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Queryable } from '../../store/index.ts';
import { CLAIM_NAMES, DEFAULT_ALLOWED_CLAIMS } from '../claims/index.ts';
import { AUTHN_METHODS, type AuthnMethod } from '../session/index.ts';
import type { Sealer } from './sealing.ts';

/** How a person may log in (the SSO session's list). */
export const LOGIN_METHODS = AUTHN_METHODS;
export type LoginMethod = AuthnMethod;

export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth', 'none'] as const;
export type ClientAuthMethod = (typeof AUTH_METHODS)[number];

export interface ClientRecord {
  readonly clientId: string;
  readonly displayName: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris: readonly string[];
  readonly public: boolean;
  readonly tokenEndpointAuthMethod: ClientAuthMethod;
  readonly jwksUri: string | null;
  readonly methods: readonly LoginMethod[];
  readonly allowedClaims: readonly string[];
  readonly backchannelLogoutUri: string | null;
  /** May receive refresh tokens (with scope offline_access). */
  readonly refreshTokens: boolean;
  /** For `tls_client_auth`: the subject DN of the client's function certificate. */
  readonly tlsClientAuthSubjectDn: string | null;
  /** RFC 7522: the SAML SP whose assertions this client may trade for access tokens. */
  readonly samlEntityId: string | null;
  readonly createdAt: Date;
}

export interface NewClient {
  readonly displayName: string;
  readonly redirectUris: readonly string[];
  readonly postLogoutRedirectUris?: readonly string[];
  /** A browser or native app that cannot keep a secret: no secret, PKCE required. */
  readonly public?: boolean;
  readonly tokenEndpointAuthMethod?: ClientAuthMethod;
  readonly jwksUri?: string;
  readonly methods?: readonly LoginMethod[];
  readonly allowedClaims?: readonly string[];
  readonly backchannelLogoutUri?: string;
  readonly refreshTokens?: boolean;
  readonly tlsClientAuthSubjectDn?: string;
  readonly samlEntityId?: string;
}

/** RFC 7522's grant type: an assertion we issued to the client's SAML SP, for an access token. */
export const SAML2_BEARER = 'urn:ietf:params:oauth:grant-type:saml2-bearer';

export class ClientError extends Error {
  override readonly name = 'ClientError';
}

const COLUMNS = `client_id as "clientId", display_name as "displayName", redirect_uris as "redirectUris",
  post_logout_redirect_uris as "postLogoutRedirectUris", public, token_endpoint_auth_method as "tokenEndpointAuthMethod",
  jwks_uri as "jwksUri", methods, allowed_claims as "allowedClaims", backchannel_logout_uri as "backchannelLogoutUri", refresh_tokens as "refreshTokens",
  tls_client_auth_subject_dn as "tlsClientAuthSubjectDn", saml_entity_id as "samlEntityId", created_at as "createdAt"`;

const secretPurpose = (clientId: string) => `client-secret:${clientId}`;
const newSecret = () => randomBytes(32).toString('base64url');

/** Registers a relying party; the secret (for confidential clients with a secret method) is returned once. */
export async function addClient(db: Queryable, sealer: Sealer, input: NewClient, clientId = randomBytes(12).toString('base64url')): Promise<{ client: ClientRecord; secret: string | null }> {
  const client = checkNewClient(input);
  const secret = client.tokenEndpointAuthMethod.startsWith('client_secret') ? newSecret() : null;
  const [row] = await db.query<ClientRecord>(
    `insert into oidc_clients (client_id, display_name, redirect_uris, post_logout_redirect_uris, public, secret_encrypted,
       token_endpoint_auth_method, jwks_uri, methods, allowed_claims, backchannel_logout_uri, refresh_tokens, tls_client_auth_subject_dn, saml_entity_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) returning ${COLUMNS}`,
    [
      clientId,
      client.displayName,
      client.redirectUris,
      client.postLogoutRedirectUris,
      client.public,
      secret === null ? null : sealer.seal(secret, secretPurpose(clientId)),
      client.tokenEndpointAuthMethod,
      client.jwksUri,
      client.methods,
      client.allowedClaims,
      client.backchannelLogoutUri,
      client.refreshTokens,
      client.tlsClientAuthSubjectDn,
      client.samlEntityId,
    ],
  );
  return { client: row!, secret };
}

function checkNewClient(input: NewClient) {
  const displayName = input.displayName?.trim();
  if (!displayName || displayName.length > 100) throw new ClientError('the display name must be 1–100 characters');
  if (!input.redirectUris.length) throw new ClientError('at least one redirect URI is required');
  for (const uri of [...input.redirectUris, ...(input.postLogoutRedirectUris ?? []), ...(input.backchannelLogoutUri ? [input.backchannelLogoutUri] : [])]) checkUri(uri);
  const isPublic = input.public ?? false;
  const tokenEndpointAuthMethod = isPublic ? 'none' : (input.tokenEndpointAuthMethod ?? 'client_secret_basic');
  if (!AUTH_METHODS.includes(tokenEndpointAuthMethod)) throw new ClientError(`unknown client authentication method ${tokenEndpointAuthMethod} (known: ${AUTH_METHODS.join(', ')})`);
  if (!isPublic && tokenEndpointAuthMethod === 'none') throw new ClientError('a confidential client needs an authentication method other than none');
  if (tokenEndpointAuthMethod === 'private_key_jwt' && !input.jwksUri) throw new ClientError('private_key_jwt needs the client’s JWKS URI');
  if (input.jwksUri) checkUri(input.jwksUri);
  if (tokenEndpointAuthMethod === 'tls_client_auth' && !input.tlsClientAuthSubjectDn?.trim()) throw new ClientError('tls_client_auth needs the subject DN of the client’s function certificate (--tls-subject-dn)');
  if (input.tlsClientAuthSubjectDn !== undefined && tokenEndpointAuthMethod !== 'tls_client_auth') throw new ClientError('a subject DN is only for tls_client_auth');
  if (input.tlsClientAuthSubjectDn !== undefined && !isDistinguishedName(input.tlsClientAuthSubjectDn)) throw new ClientError(`not a distinguished name: ${input.tlsClientAuthSubjectDn} (write it as CN=…, O=…; the identifier as 2.5.4.5=…)`);
  const methods = input.methods?.length ? [...new Set(input.methods)] : ['oob-other', 'oob-same'];
  for (const method of methods) if (!(LOGIN_METHODS as readonly string[]).includes(method)) throw new ClientError(`unknown login method ${method} (known: ${LOGIN_METHODS.join(', ')})`);
  const samlEntityId = input.samlEntityId?.trim();
  if (input.samlEntityId !== undefined && (!samlEntityId || samlEntityId.length > 1024 || /\s/.test(samlEntityId))) throw new ClientError(`not a SAML entityID: ${JSON.stringify(input.samlEntityId.slice(0, 100))}`);
  if (samlEntityId && isPublic) throw new ClientError('a public client cannot trade SAML assertions (it cannot authenticate at the token endpoint)');
  const allowedClaims = input.allowedClaims?.length ? [...new Set(input.allowedClaims)] : [...DEFAULT_ALLOWED_CLAIMS];
  for (const claim of allowedClaims) if (!CLAIM_NAMES.has(claim)) throw new ClientError(`unknown claim ${claim}`);
  return {
    displayName,
    redirectUris: [...input.redirectUris],
    postLogoutRedirectUris: [...(input.postLogoutRedirectUris ?? [])],
    public: isPublic,
    tokenEndpointAuthMethod,
    jwksUri: input.jwksUri ?? null,
    methods,
    allowedClaims,
    backchannelLogoutUri: input.backchannelLogoutUri ?? null,
    refreshTokens: input.refreshTokens ?? false,
    tlsClientAuthSubjectDn: input.tlsClientAuthSubjectDn?.trim() ?? null,
    samlEntityId: samlEntityId ?? null,
  };
}

function isDistinguishedName(text: string): boolean {
  try {
    return new x509.Name(text).toJSON().length > 0;
  } catch {
    return false;
  }
}

function checkUri(uri: string): void {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new ClientError(`not a URL: ${uri}`);
  }
  const loopback = url.hostname === 'localhost' || url.hostname === '127.0.0.1' || url.hostname === '[::1]';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new ClientError(`${uri}: only https URLs (or http on loopback, for development)`);
  if (url.hash) throw new ClientError(`${uri}: a URI with a fragment is not allowed`);
}

export async function findClient(db: Queryable, clientId: string): Promise<ClientRecord | null> {
  const [row] = await db.query<ClientRecord>(`select ${COLUMNS} from oidc_clients where client_id = $1`, [clientId]);
  return row ?? null;
}

export async function listClients(db: Queryable): Promise<ClientRecord[]> {
  return db.query<ClientRecord>(`select ${COLUMNS} from oidc_clients order by display_name, client_id`);
}

export async function removeClient(db: Queryable, clientId: string): Promise<boolean> {
  return (await db.query('delete from oidc_clients where client_id = $1 returning 1', [clientId])).length === 1;
}

/** A new secret for a client authenticating with one; the old secret stops working at once. */
export async function rotateClientSecret(db: Queryable, sealer: Sealer, clientId: string, now: Date): Promise<string> {
  const client = await findClient(db, clientId);
  if (!client) throw new ClientError(`no client ${clientId}`);
  if (!client.tokenEndpointAuthMethod.startsWith('client_secret')) throw new ClientError(`client ${clientId} authenticates with ${client.tokenEndpointAuthMethod}, not a secret`);
  const secret = newSecret();
  await db.query('update oidc_clients set secret_encrypted = $2, secret_rotated_at = $3 where client_id = $1', [clientId, sealer.seal(secret, secretPurpose(clientId)), now]);
  return secret;
}

/** The client as oidc-provider's metadata, with its secret decrypted for the comparison oidc-provider makes. */
export async function clientMetadata(db: Queryable, sealer: Sealer, clientId: string): Promise<Record<string, unknown> | undefined> {
  const [row] = await db.query<ClientRecord & { sealed: Uint8Array | null }>(`select ${COLUMNS}, secret_encrypted as sealed from oidc_clients where client_id = $1`, [clientId]);
  if (!row) return undefined;
  return {
    client_id: row.clientId,
    client_name: row.displayName,
    redirect_uris: row.redirectUris,
    post_logout_redirect_uris: row.postLogoutRedirectUris,
    response_types: ['code'],
    grant_types: ['authorization_code', ...(row.refreshTokens ? ['refresh_token'] : []), ...(row.samlEntityId ? [SAML2_BEARER] : [])],
    token_endpoint_auth_method: row.tokenEndpointAuthMethod,
    ...(row.sealed ? { client_secret: sealer.open(row.sealed, secretPurpose(row.clientId)) } : {}),
    ...(row.jwksUri ? { jwks_uri: row.jwksUri } : {}),
    ...(row.tlsClientAuthSubjectDn ? { tls_client_auth_subject_dn: row.tlsClientAuthSubjectDn } : {}),
    ...(row.backchannelLogoutUri ? { backchannel_logout_uri: row.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    subject_type: 'pairwise',
    ...(row.public ? { application_type: 'web' } : {}),
  };
}
