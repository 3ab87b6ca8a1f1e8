import { inflateRawSync } from 'node:zlib';
import type { Document, Element } from '@xmldom/xmldom';
import { PRINCIPAL_SELECTION_ATTRIBUTES, SAML_ATTRIBUTES } from './attributes.ts';
import { BINDINGS, NAMEID_FORMATS } from './metadata.ts';
import { verifyDetached, verifyEnvelopedRoot, SignatureRefused } from './signing.ts';
import type { IndexedEndpoint } from './sp-metadata.ts';
import type { ServiceProvider } from './sps.ts';
import { RequestRefused, SamlStatusError, STATUS } from './status.ts';
import { NS, XmlRefused, child, children, parseStrict, textOf } from './xml.ts';

/** An AuthnRequest as it arrived, in either binding. */
export type IncomingRequest =
  | { readonly binding: 'redirect'; /** The query string exactly as received (after `?`). */ readonly rawQuery: string }
  | { readonly binding: 'post'; readonly form: Readonly<Record<string, string | undefined>> };

export interface RequestEnvironment {
  /** Our SSO endpoint: a request's Destination must name it. */
  readonly ssoUrl: string;
  readonly idpEntityId: string;
  readonly findSp: (entityId: string) => Promise<ServiceProvider | null>;
  /** Stores `key` if absent; false when it was seen before (the short-lived store's setIfAbsent). */
  readonly firstUse: (key: string, ttlMs: number) => Promise<boolean>;
  readonly now: Date;
  readonly clockSkewMs: number;
  readonly lifetimeMs: number;
  readonly maxBytes: number;
  readonly wantAuthnRequestsSigned: boolean;
  /** LoA level → the URIs that name it (ours first). */
  readonly loaUris: Readonly<Record<number, readonly string[]>>;
}

/** An AuthnRequest that passed every check: what the login and the response act on. */
export interface ValidatedAuthnRequest {
  readonly id: string;
  readonly sp: ServiceProvider;
  /** Where the response goes: from the SP's metadata, never only from the request. */
  readonly acsUrl: string;
  readonly relayState: string | undefined;
  readonly forceAuthn: boolean;
  readonly isPassive: boolean;
  readonly nameIdFormat: (typeof NAMEID_FORMATS)[keyof typeof NAMEID_FORMATS];
  /** LoA levels the SP accepts, each with the URI to answer with. */
  readonly acceptedLoas: readonly { readonly level: number; readonly uri: string }[];
  /** Claim names to release: those the SP may receive, cut to what its AttributeConsumingService asks for. */
  readonly attributes: readonly string[];
  readonly requesterIds: readonly string[];
  /** PrincipalSelection: claim → the values the person must match. */
  readonly principalSelection: Readonly<Record<string, readonly string[]>>;
}

/** Characters of a RelayState we pass back (the spec's 80 bytes is more than some SPs keep to). */
const MAX_RELAY_STATE = 512;
const SAML_VERSION = '2.0';

/**
 * The AuthnRequest pipeline: each step checks one rule. Until the ACS is
 * known from the SP's metadata a failure is a RequestRefused (error page);
 * after that a SamlStatusError (a status Response to that ACS).
 */
export async function validateAuthnRequest(incoming: IncomingRequest, env: RequestEnvironment): Promise<ValidatedAuthnRequest> {
  const { root, sp, acs, id, relayState } = await trustChecks(incoming, env).catch((error: unknown) => {
    throw error instanceof XmlRefused ? new RequestRefused(error.message) : error;
  });
  // From here the SP is known and the ACS is its own: failures are answered there.
  try {
    return {
      id,
      sp,
      acsUrl: acs.location,
      relayState,
      forceAuthn: booleanAttribute(root, 'ForceAuthn'),
      isPassive: booleanAttribute(root, 'IsPassive'),
      nameIdFormat: readNameIdPolicy(root, sp),
      acceptedLoas: readRequestedAuthnContext(root, env.loaUris),
      attributes: readAttributeConsumingService(root, sp),
      requesterIds: readScoping(root, env.idpEntityId),
      principalSelection: readPrincipalSelection(root),
    };
  } catch (error) {
    const answerable = error instanceof XmlRefused ? new SamlStatusError(STATUS.requester, undefined, error.message) : error;
    if (answerable instanceof SamlStatusError) answerable.answerTo = { spEntityId: sp.entityId, acsUrl: acs.location, inResponseTo: id, relayState };
    throw answerable;
  }
}

/** Who sent it, whether it is theirs, for us, fresh and new, and where the answer may go. */
async function trustChecks(incoming: IncomingRequest, env: RequestEnvironment) {
  const message = decodeMessage(incoming, env.maxBytes);
  let root = checkMessageType(parseRequest(message.xml, env.maxBytes));
  const sp = await identifySp(root, env);
  root = checkSignature(root, message, sp, env);
  checkVersion(root);
  checkDestination(root, env.ssoUrl);
  checkIssueInstant(root, env);
  const acs = resolveAcs(root, sp);
  // Last of these checks, so only a request that passed them all uses up its ID.
  const id = await checkReplay(root, sp, env);
  return { root, sp, acs, id, relayState: message.relayState };
}

export interface DecodedMessage {
  readonly binding: IncomingRequest['binding'];
  readonly xml: string;
  readonly relayState: string | undefined;
  /** HTTP-Redirect: the signature over the query string, if any. */
  readonly detached?: { readonly signedBytes: readonly string[]; readonly sigAlg: string; readonly signature: string };
}

/** A request, or a response (an SP answering our LogoutRequest). */
export type MessageParameter = 'SAMLRequest' | 'SAMLResponse';

/** Both bindings: base64 (and for Redirect, DEFLATE with an output cap against bombs). */
export function decodeMessage(incoming: IncomingRequest, maxBytes: number, name: MessageParameter = 'SAMLRequest'): DecodedMessage {
  return incoming.binding === 'redirect' ? decodeRedirect(incoming.rawQuery, maxBytes, name) : decodePost(incoming.form, maxBytes, name);
}

function decodeRedirect(rawQuery: string, maxBytes: number, message: MessageParameter): DecodedMessage {
  const raw = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (!pair) continue;
    const at = pair.indexOf('=');
    const name = safeDecode(at < 0 ? pair : pair.slice(0, at));
    if (![message, 'RelayState', 'SigAlg', 'Signature'].includes(name)) continue;
    if (raw.has(name)) throw new RequestRefused(`the query string has ${name} twice`);
    raw.set(name, at < 0 ? '' : pair.slice(at + 1));
  }
  const encoded = raw.get(message);
  if (!encoded) throw new RequestRefused(`no ${message} in the query string`);
  // Base64 of DEFLATE is never larger than the XML it holds by more than a third.
  if (encoded.length > maxBytes * 2) throw new RequestRefused(`${message} longer than ${maxBytes * 2} characters`);
  let xml: string;
  try {
    xml = inflateRawSync(strictBase64(formValue(encoded), message), { maxOutputLength: maxBytes }).toString('utf8');
  } catch (error) {
    if (error instanceof RequestRefused) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError) throw new RequestRefused(`${message} inflates to more than ${maxBytes} bytes`);
    throw new RequestRefused(`${message} is not DEFLATE data`);
  }
  const relayState = raw.has('RelayState') ? formValue(raw.get('RelayState')!) : undefined;
  checkRelayState(relayState);
  const signature = raw.get('Signature');
  const sigAlg = raw.get('SigAlg');
  if ((signature === undefined) !== (sigAlg === undefined)) throw new RequestRefused('Signature and SigAlg go together');
  if (signature === undefined || sigAlg === undefined) return { binding: 'redirect', xml, relayState };
  // The signature covers the parameters as sent, in this order (SAML bindings §3.4.4.1). Some SPs
  // (node-saml) sign another percent-encoding of the same values than they send: those encodings
  // are tried too; each decodes to exactly the values we act on.
  const signedOver = (encode: (name: string) => string) => [`${message}=${encode(message)}`, ...(raw.has('RelayState') ? [`RelayState=${encode('RelayState')}`] : []), `SigAlg=${encode('SigAlg')}`].join('&');
  const signedBytes = [...new Set([signedOver((name) => raw.get(name)!), signedOver((name) => encodeURIComponent(formValue(raw.get(name)!))), signedOver((name) => new URLSearchParams({ v: formValue(raw.get(name)!) }).toString().slice(2))])];
  return { binding: 'redirect', xml, relayState, detached: { signedBytes, sigAlg: formValue(sigAlg), signature: strictBase64(formValue(signature), 'Signature').toString('base64') } };
}

function decodePost(form: Readonly<Record<string, string | undefined>>, maxBytes: number, message: MessageParameter): DecodedMessage {
  const encoded = form[message];
  if (!encoded) throw new RequestRefused(`no ${message} in the form`);
  if (encoded.length > Math.ceil((maxBytes * 4) / 3) + 4) throw new RequestRefused(`${message} larger than ${maxBytes} bytes`);
  const relayState = form['RelayState'];
  checkRelayState(relayState);
  return { binding: 'post', xml: strictBase64(encoded, message).toString('utf8'), relayState };
}

function checkRelayState(relayState: string | undefined): void {
  if (relayState !== undefined && relayState.length > MAX_RELAY_STATE) throw new RequestRefused(`RelayState longer than ${MAX_RELAY_STATE} characters`);
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new RequestRefused('the query string is not valid percent-encoding');
  }
}

/** A form-encoded value: `+` is a space, then percent-decoding. */
const formValue = (value: string) => safeDecode(value.replace(/\+/g, ' '));

function strictBase64(value: string, what: string): Buffer {
  const compact = value.replace(/[\r\n ]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw new RequestRefused(`${what} is not base64`);
  return Buffer.from(compact, 'base64');
}

export function parseRequest(xml: string, maxBytes: number): Document {
  try {
    return parseStrict(xml, maxBytes);
  } catch (error) {
    if (error instanceof XmlRefused) throw new RequestRefused(error.message);
    throw error;
  }
}

export function checkMessageType(doc: Document, expected: 'AuthnRequest' | 'LogoutRequest' | 'LogoutResponse' = 'AuthnRequest'): Element {
  const root = doc.documentElement!;
  if (root.namespaceURI !== NS.samlp || root.localName !== expected) throw new RequestRefused(`expected samlp:${expected}, found ${root.localName}`);
  return root;
}

function issuerOf(root: Element): string {
  const issuer = child(root, NS.saml, 'Issuer');
  if (!issuer) throw new RequestRefused('the request has no Issuer');
  const format = issuer.getAttribute('Format');
  if (format && format !== 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity') throw new RequestRefused(`Issuer Format ${format} is not an entity`);
  return textOf(issuer).trim();
}

export async function identifySp(root: Element, env: Pick<RequestEnvironment, 'findSp'>): Promise<ServiceProvider> {
  const issuer = issuerOf(root);
  const sp = issuer ? await env.findSp(issuer) : null;
  if (!sp) throw new RequestRefused(`unknown service provider ${JSON.stringify(issuer.slice(0, 200))}`);
  return sp;
}

/**
 * A signature is required when the SP is registered so, its metadata says
 * AuthnRequestsSigned, or the IdP wants every request signed; one that is
 * present is always checked. POST: the request is read again from the bytes
 * the signature covers. Redirect: a signature inside the XML is refused (the
 * binding signs the query string).
 */
export function checkSignature(root: Element, message: DecodedMessage, sp: ServiceProvider, env: Pick<RequestEnvironment, 'wantAuthnRequestsSigned' | 'maxBytes'>, always = false): Element {
  const required = always || sp.requireSignedRequests || sp.descriptor.authnRequestsSigned || env.wantAuthnRequestsSigned;
  const messageType = root.localName as 'AuthnRequest' | 'LogoutRequest' | 'LogoutResponse';
  const enveloped = Array.from(root.getElementsByTagNameNS(NS.ds, 'Signature')).length > 0;
  try {
    if (message.binding === 'redirect') {
      if (enveloped) throw new SignatureRefused('a Redirect-binding request carries a signature inside the XML');
      if (message.detached) {
        verifyDetached(message.detached.signedBytes, message.detached.sigAlg, message.detached.signature, sp.descriptor.signingCertificates);
        return root;
      }
    } else if (enveloped) {
      const signedXml = verifyEnvelopedRoot(root.ownerDocument!, message.xml, sp.descriptor.signingCertificates);
      const signedRoot = checkMessageType(parseRequest(signedXml, env.maxBytes), messageType);
      if (issuerOf(signedRoot) !== sp.descriptor.entityId) throw new SignatureRefused('the signed request names another issuer');
      return signedRoot;
    }
  } catch (error) {
    if (error instanceof SignatureRefused) throw new RequestRefused(`signature of ${sp.descriptor.entityId}: ${error.message}`);
    throw error;
  }
  if (required) throw new RequestRefused(`${sp.descriptor.entityId} must sign its requests, and this one is not signed`);
  return root;
}

export function checkVersion(root: Element): void {
  if (root.getAttribute('Version') !== SAML_VERSION) throw new RequestRefused(`Version ${JSON.stringify(root.getAttribute('Version'))} is not 2.0`);
}

export function checkDestination(root: Element, endpoint: string): void {
  const destination = root.getAttribute('Destination');
  if (destination === null) throw new RequestRefused('the request has no Destination');
  if (destination !== endpoint) throw new RequestRefused(`Destination ${JSON.stringify(destination.slice(0, 200))} is not ${endpoint}`);
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export function checkIssueInstant(root: Element, env: Pick<RequestEnvironment, 'now' | 'clockSkewMs' | 'lifetimeMs'>): void {
  const raw = root.getAttribute('IssueInstant') ?? '';
  if (!ISO_INSTANT.test(raw)) throw new RequestRefused(`IssueInstant ${JSON.stringify(raw.slice(0, 40))} is not a UTC time`);
  const issued = Date.parse(raw);
  const now = env.now.getTime();
  if (issued > now + env.clockSkewMs) throw new RequestRefused(`IssueInstant ${raw} is in the future`);
  if (issued < now - env.lifetimeMs - env.clockSkewMs) throw new RequestRefused(`IssueInstant ${raw} is older than ${env.lifetimeMs / 1000} s`);
}

/** The request ID, remembered per SP for as long as the request could be accepted. */
export async function checkReplay(root: Element, sp: ServiceProvider, env: Pick<RequestEnvironment, 'firstUse' | 'clockSkewMs' | 'lifetimeMs'>): Promise<string> {
  const id = root.getAttribute('ID') ?? '';
  // An xs:ID is an NCName; we also cap its length, as it is echoed in InResponseTo.
  if (!/^[A-Za-z_][\w.-]{0,255}$/.test(id)) throw new RequestRefused('the request ID is missing or not an NCName of at most 256 characters');
  if (!(await env.firstUse(`saml:request:${sp.entityId}:${id}`, env.lifetimeMs + 2 * env.clockSkewMs))) throw new RequestRefused(`request ID ${id} was already used`);
  return id;
}

/** The ACS from the SP's metadata: by URL (with the POST binding), by index, or the default. */
export function resolveAcs(root: Element, sp: ServiceProvider): IndexedEndpoint {
  const services = sp.descriptor.assertionConsumerServices;
  const url = root.getAttribute('AssertionConsumerServiceURL');
  const index = root.getAttribute('AssertionConsumerServiceIndex');
  const binding = root.getAttribute('ProtocolBinding');
  if (url !== null && index !== null) throw new RequestRefused('the request names both an ACS URL and an ACS index');
  if (binding !== null && binding !== BINDINGS.post) throw new RequestRefused(`ProtocolBinding ${binding} is not supported (HTTP-POST only)`);
  if (url !== null) {
    const found = services.find((s) => s.location === url && s.binding === BINDINGS.post);
    if (!found) throw new RequestRefused(`AssertionConsumerServiceURL ${JSON.stringify(url.slice(0, 200))} is not an HTTP-POST ACS in the metadata of ${sp.entityId}`);
    return found;
  }
  if (index !== null) {
    const found = services.find((s) => String(s.index) === index);
    if (!found) throw new RequestRefused(`AssertionConsumerServiceIndex ${JSON.stringify(index.slice(0, 20))} is not in the metadata of ${sp.entityId}`);
    if (found.binding !== BINDINGS.post) throw new RequestRefused(`ACS index ${index} of ${sp.entityId} is not HTTP-POST`);
    return found;
  }
  const posts = services.filter((s) => s.binding === BINDINGS.post);
  return posts.find((s) => s.isDefault) ?? posts.sort((a, b) => a.index - b.index)[0]!;
}

export function readNameIdPolicy(root: Element, sp: ServiceProvider): ValidatedAuthnRequest['nameIdFormat'] {
  const policy = child(root, NS.samlp, 'NameIDPolicy');
  const format = policy?.getAttribute('Format') || 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
  const qualifier = policy?.getAttribute('SPNameQualifier');
  if (qualifier && qualifier !== sp.entityId) throw new SamlStatusError(STATUS.requester, STATUS.invalidNameIdPolicy, 'SPNameQualifier must be the SP itself (no affiliations)');
  if (format === NAMEID_FORMATS.transient || format === NAMEID_FORMATS.persistent) return format;
  if (format === 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified') {
    // The SP's metadata may say which it prefers.
    return sp.descriptor.nameIdFormats.find((f): f is ValidatedAuthnRequest['nameIdFormat'] => f === NAMEID_FORMATS.persistent || f === NAMEID_FORMATS.transient) ?? NAMEID_FORMATS.transient;
  }
  throw new SamlStatusError(STATUS.requester, STATUS.invalidNameIdPolicy, `NameID format ${format} is not supported (transient or persistent)`);
}

/** RequestedAuthnContext → the LoA levels the SP accepts (exact, minimum, better, maximum). */
export function readRequestedAuthnContext(root: Element, loaUris: RequestEnvironment['loaUris']): ValidatedAuthnRequest['acceptedLoas'] {
  const levels = Object.keys(loaUris).map(Number).sort();
  const ours = levels.map((level) => ({ level, uri: loaUris[level]![0]! }));
  const requested = child(root, NS.samlp, 'RequestedAuthnContext');
  if (!requested) return ours;
  const comparison = requested.getAttribute('Comparison') || 'exact';
  const refs = children(requested, NS.saml, 'AuthnContextClassRef').map((r) => textOf(r).trim());
  if (!refs.length) throw new SamlStatusError(STATUS.requester, STATUS.requestUnsupported, 'RequestedAuthnContext names no AuthnContextClassRef (declarations are not supported)');
  const named = refs.flatMap((uri) => levels.filter((level) => loaUris[level]!.includes(uri)).map((level) => ({ level, uri })));
  if (!named.length) throw new SamlStatusError(STATUS.responder, STATUS.noAuthnContext, `none of the requested contexts is one we offer: ${refs.join(', ').slice(0, 300)}`);
  const low = Math.min(...named.map((n) => n.level));
  const high = Math.max(...named.map((n) => n.level));
  // The SP's own URI for a level when it named one, ours otherwise.
  const uriFor = (level: number) => named.find((n) => n.level === level)?.uri ?? loaUris[level]![0]!;
  const accepted = (() => {
    switch (comparison) {
      case 'exact':
        return named.map((n) => n.level);
      case 'minimum':
        return levels.filter((l) => l >= low);
      case 'better':
        return levels.filter((l) => l > low);
      case 'maximum':
        return levels.filter((l) => l <= high);
      default:
        throw new SamlStatusError(STATUS.requester, undefined, `Comparison ${comparison} is not exact, minimum, better or maximum`);
    }
  })();
  const result = [...new Set(accepted)].sort().map((level) => ({ level, uri: uriFor(level) }));
  if (!result.length) throw new SamlStatusError(STATUS.responder, STATUS.noAuthnContext, `no LoA we offer is ${comparison} ${refs.join(', ').slice(0, 300)}`);
  return result;
}

const CLAIM_BY_NAME: ReadonlyMap<string, string> = new Map(Object.entries(SAML_ATTRIBUTES).flatMap(([claim, names]) => [[names.sambi, claim], ...(names.oid ? [[names.oid, claim] as const] : [])]));

/** The attributes to release: what the SP may receive, cut to what its AttributeConsumingService asks for. */
export function readAttributeConsumingService(root: Element, sp: ServiceProvider): readonly string[] {
  const raw = root.getAttribute('AttributeConsumingServiceIndex');
  const services = sp.descriptor.attributeConsumingServices;
  // Without an index the default service applies: the one marked so, else the first (metadata §2.4.4).
  let service = services.find((s) => s.isDefault) ?? services[0];
  if (raw !== null) {
    service = services.find((s) => String(s.index) === raw);
    if (!service) throw new SamlStatusError(STATUS.requester, undefined, `AttributeConsumingServiceIndex ${JSON.stringify(raw.slice(0, 20))} is not in the SP metadata`);
  }
  if (!service) return sp.allowedAttributes;
  const asked = new Set(service.requested.map((r) => CLAIM_BY_NAME.get(r.name)).filter((c): c is string => c !== undefined));
  return sp.allowedAttributes.filter((claim) => asked.has(claim));
}

/** Scoping: the RequesterIDs (who the SP acts for), and an IDPList must include us. */
export function readScoping(root: Element, idpEntityId: string): readonly string[] {
  const scoping = child(root, NS.samlp, 'Scoping');
  if (!scoping) return [];
  const list = child(scoping, NS.samlp, 'IDPList');
  if (list) {
    const providers = children(list, NS.samlp, 'IDPEntry').map((e) => e.getAttribute('ProviderID'));
    if (providers.length && !providers.includes(idpEntityId)) throw new SamlStatusError(STATUS.responder, STATUS.noSupportedIdp, 'the IDPList does not name this IdP');
  }
  return children(scoping, NS.samlp, 'RequesterID').map((r) => textOf(r).trim().slice(0, 1024));
}

/** The PrincipalSelection extension: the person the SP expects (names we do not know are ignored, as the profile says). */
export function readPrincipalSelection(root: Element): Readonly<Record<string, readonly string[]>> {
  const extensions = child(root, NS.samlp, 'Extensions');
  const selection = extensions ? child(extensions, NS.psc, 'PrincipalSelection') : null;
  if (!selection) return {};
  const pins: Record<string, string[]> = {};
  for (const match of children(selection, NS.psc, 'MatchValue')) {
    const claim = PRINCIPAL_SELECTION_ATTRIBUTES[match.getAttribute('Name') ?? ''];
    if (!claim) continue;
    const value = textOf(match).trim();
    if (!value || value.length > 256) throw new SamlStatusError(STATUS.requester, undefined, `PrincipalSelection ${match.getAttribute('Name')} has an empty or overlong value`);
    (pins[claim] ??= []).push(value);
  }
  return pins;
}

function booleanAttribute(root: Element, name: string): boolean {
  const raw = root.getAttribute(name);
  if (raw === null || raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  throw new SamlStatusError(STATUS.requester, undefined, `${name}=${JSON.stringify(raw.slice(0, 20))} is not a boolean`);
}
