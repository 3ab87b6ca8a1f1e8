import { z } from 'zod';
import { flag, httpUrl, port, secret } from '../../config/fields.ts';

const seconds = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);

/** The OpenID Provider's settings; every one has a default that suits a small region. */
export const oidcConfigSchema = z.strictObject({
  /**
   * 32 bytes (base64) that encrypt the signing keys and client secrets in the
   * database. Unset: a key file (mode 0600) in `dataDir` is created and used;
   * several IdP nodes sharing one database must all be given the same value.
   */
  encryptionKey: secret(z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'expected 32 bytes in base64').optional()),
  /** ID-token signing algorithm (RS256 is what every relying party supports). */
  signingAlg: z.enum(['RS256', 'PS256', 'ES256']).default('RS256'),
  /** A signing key is used this long before the next one takes over. */
  keyRotationDays: seconds(30),
  /** A new key is published in the JWKS this long before it signs, so relying parties' caches pick it up. */
  keyPublishAheadHours: seconds(24),
  /** LoA URIs for `acr` (SITHS' by default). */
  loa: z
    .strictObject({
      loa2: z.string().min(1).default('http://id.sambi.se/loa/loa2'),
      loa3: z.string().min(1).default('http://id.sambi.se/loa/loa3'),
    })
    .prefault({}),
  /** How long an SSO session lets later logins skip authentication. */
  ssoSessionSeconds: seconds(8 * 3600, 60),
  authorizationCodeSeconds: seconds(60),
  accessTokenSeconds: seconds(600),
  idTokenSeconds: seconds(600),
  refreshTokenSeconds: seconds(8 * 3600),
  /**
   * Let the IdP call relying parties (back-channel logout, JWKS URIs) on
   * private or loopback addresses. Off: oidc-provider refuses them, against
   * server-side request forgery; turn on where e-services live on an internal network.
   */
  allowPrivateNetworkCalls: flag.default(false),
  /** How long a person has to finish the login pages. */
  interactionSeconds: seconds(600, 60),
  /**
   * RFC 8705 endpoint aliases (token, introspection, revocation, userinfo) on
   * a listener that asks for client certificates, for clients registered with
   * `tls_client_auth`; the pages' server never asks browsers for one.
   */
  mtls: z
    .strictObject({
      enabled: flag.default(true),
      port: port.default(8445),
      /** How clients reach the aliases; unset: the host of `server.publicBaseUrl` on `port`. */
      publicBaseUrl: httpUrl.optional(),
    })
    .prefault({}),
});

export type OidcConfig = z.infer<typeof oidcConfigSchema>;
