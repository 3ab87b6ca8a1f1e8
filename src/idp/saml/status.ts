/** SAML 2.0 status codes (core §3.2.2.2) the IdP answers with. */
export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  versionMismatch: 'urn:oasis:names:tc:SAML:2.0:status:VersionMismatch',
  authnFailed: 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed',
  noPassive: 'urn:oasis:names:tc:SAML:2.0:status:NoPassive',
  unknownPrincipal: 'urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal',
  requestDenied: 'urn:oasis:names:tc:SAML:2.0:status:RequestDenied',
  invalidNameIdPolicy: 'urn:oasis:names:tc:SAML:2.0:status:InvalidNameIDPolicy',
  noAuthnContext: 'urn:oasis:names:tc:SAML:2.0:status:NoAuthnContext',
  requestUnsupported: 'urn:oasis:names:tc:SAML:2.0:status:RequestUnsupported',
  noSupportedIdp: 'urn:oasis:names:tc:SAML:2.0:status:NoSupportedIDP',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
} as const;

type TopStatus = typeof STATUS.requester | typeof STATUS.responder | typeof STATUS.versionMismatch;

/**
 * A request we trust enough to answer at its (checked) ACS: the SP gets a
 * Response with this status. The message goes to the log and StatusMessage,
 * never anything secret.
 */
export class SamlStatusError extends Error {
  override readonly name = 'SamlStatusError';
  readonly status: TopStatus;
  readonly subStatus: string | undefined;
  /** Where the answer goes: set once the request's ACS is known from the SP's metadata. */
  answerTo?: { readonly spEntityId: string; readonly acsUrl: string; readonly inResponseTo: string; readonly relayState: string | undefined };
  constructor(status: TopStatus, subStatus: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.subStatus = subStatus;
  }
}

/**
 * A request we do not trust (unknown SP, bad signature, unchecked ACS, …):
 * it gets an error page, never a redirect or a POST to a URL it named.
 */
export class RequestRefused extends Error {
  override readonly name = 'RequestRefused';
}
