import type { Element } from '@xmldom/xmldom';
import { checkDestination, checkIssueInstant, checkMessageType, checkReplay, checkSignature, checkVersion, decodeMessage, identifySp, parseRequest, type IncomingRequest, type RequestEnvironment } from './authn-request.ts';
import { BINDINGS } from './metadata.ts';
import type { ServiceProvider } from './sps.ts';
import { RequestRefused } from './status.ts';
import { NS, XmlRefused, children, textOf } from './xml.ts';

/** A LogoutRequest that passed every check. */
export interface ValidatedLogoutRequest {
  readonly id: string;
  readonly sp: ServiceProvider;
  /** Where the LogoutResponse goes (HTTP-POST), from the SP's metadata. */
  readonly responseUrl: string;
  readonly relayState: string | undefined;
  readonly sessionIndexes: readonly string[];
}

/**
 * The SP-initiated LogoutRequest: the same steps as an AuthnRequest, but a
 * signature is always required (a forged request would log people out) and
 * the answer goes to the SP's HTTP-POST SingleLogoutService.
 */
export async function validateLogoutRequest(incoming: IncomingRequest, env: RequestEnvironment & { readonly sloUrl: string }): Promise<ValidatedLogoutRequest> {
  try {
    const message = decodeMessage(incoming, env.maxBytes);
    let root: Element = checkMessageType(parseRequest(message.xml, env.maxBytes), 'LogoutRequest');
    const sp = await identifySp(root, env);
    root = checkSignature(root, message, sp, env, true);
    checkVersion(root);
    checkDestination(root, env.sloUrl);
    checkIssueInstant(root, env);
    const service = sp.descriptor.singleLogoutServices.find((s) => s.binding === BINDINGS.post);
    if (!service) throw new RequestRefused(`${sp.entityId} has no HTTP-POST SingleLogoutService in its metadata`);
    const id = await checkReplay(root, sp, env);
    return { id, sp, responseUrl: service.responseLocation ?? service.location, relayState: message.relayState, sessionIndexes: children(root, NS.samlp, 'SessionIndex').map((s) => textOf(s).trim()) };
  } catch (error) {
    throw error instanceof XmlRefused ? new RequestRefused(error.message) : error;
  }
}
