import { deflateRawSync } from 'node:zlib';
import type { Element } from '@xmldom/xmldom';
import { checkDestination, checkIssueInstant, checkMessageType, checkSignature, checkVersion, decodeMessage, parseRequest, type IncomingRequest, type RequestEnvironment } from './authn-request.ts';
import { BINDINGS } from './metadata.ts';
import { logoutRequest, type Idp } from './response.ts';
import { signRedirectQuery } from './signing.ts';
import type { ServiceProvider } from './sps.ts';
import { RequestRefused, STATUS } from './status.ts';
import { NS, XmlRefused, child } from './xml.ts';

/** One SAML SP still to be told of a logout: its session's NameID and SessionIndexes. */
export interface SamlLogoutTarget {
  readonly entityId: string;
  readonly nameId: { readonly format: string; readonly value: string };
  readonly sessionIndexes: readonly string[];
}

/** How the browser carries our LogoutRequest to the SP: a signed Redirect URL, or a signed form for HTTP-POST. */
export type OutgoingLogout =
  | { readonly binding: 'redirect'; readonly id: string; readonly url: string }
  | { readonly binding: 'post'; readonly id: string; readonly url: string; readonly samlRequest: string };

/**
 * A signed LogoutRequest to the SP's SingleLogoutService: Redirect binding
 * when its metadata has one (query-string signature), else HTTP-POST
 * (enveloped signature); null when the SP has no SingleLogoutService.
 */
export async function outgoingLogout(idp: Idp, sp: ServiceProvider, target: SamlLogoutTarget, relayState: string, now: Date, lifetimeMs: number): Promise<OutgoingLogout | null> {
  const services = sp.descriptor.singleLogoutServices;
  const redirect = services.find((s) => s.binding === BINDINGS.redirect);
  const post = services.find((s) => s.binding === BINDINGS.post);
  const service = redirect ?? post;
  if (!service) return null;
  const { id, xml } = await logoutRequest(idp, service.location, target.nameId, target.sessionIndexes, now, lifetimeMs, redirect ? 'none' : 'enveloped');
  if (redirect) {
    const query = signRedirectQuery([['SAMLRequest', deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64')], ['RelayState', relayState]], idp.keys.signing, idp.signatureAlgorithm);
    return { binding: 'redirect', id, url: `${service.location}${service.location.includes('?') ? '&' : '?'}${query}` };
  }
  return { binding: 'post', id, url: service.location, samlRequest: Buffer.from(xml, 'utf8').toString('base64') };
}

/**
 * The SP's LogoutResponse to our LogoutRequest: from that SP (Issuer and a
 * signature with its metadata keys, always required), to our SLO endpoint,
 * in response to the request we sent, fresh. `loggedOut` is its status.
 */
export function readLogoutResponse(incoming: IncomingRequest, env: Pick<RequestEnvironment, 'maxBytes' | 'wantAuthnRequestsSigned' | 'now' | 'clockSkewMs' | 'lifetimeMs'> & { readonly sloUrl: string }, expected: { readonly sp: ServiceProvider; readonly requestId: string }): { readonly loggedOut: boolean } {
  try {
    const message = decodeMessage(incoming, env.maxBytes, 'SAMLResponse');
    let root: Element = checkMessageType(parseRequest(message.xml, env.maxBytes), 'LogoutResponse');
    const issuer = child(root, NS.saml, 'Issuer')?.textContent?.trim();
    if (issuer !== expected.sp.entityId) throw new RequestRefused(`the LogoutResponse comes from ${JSON.stringify(issuer?.slice(0, 200))}, not ${expected.sp.entityId}`);
    root = checkSignature(root, message, expected.sp, env, true);
    checkVersion(root);
    checkDestination(root, env.sloUrl);
    checkIssueInstant(root, env);
    if (root.getAttribute('InResponseTo') !== expected.requestId) throw new RequestRefused('the LogoutResponse answers another request');
    const code = child(child(root, NS.samlp, 'Status') ?? root, NS.samlp, 'StatusCode')?.getAttribute('Value');
    return { loggedOut: code === STATUS.success };
  } catch (error) {
    throw error instanceof XmlRefused ? new RequestRefused(error.message) : error;
  }
}

/** Which message an SLO request carries. */
export function isLogoutResponse(incoming: IncomingRequest): boolean {
  return incoming.binding === 'redirect' ? /(^|&)SAMLResponse=/.test(incoming.rawQuery) : incoming.form['SAMLResponse'] !== undefined;
}

