import { createHmac, randomBytes, type KeyObject } from 'node:crypto';
import type { Element } from '@xmldom/xmldom';
import { encrypt } from 'xml-encryption';
import { AUTHN_METHOD_ATTRIBUTE, LEVEL_OF_ASSURANCE_ATTRIBUTE, samlAttributeName, URI_NAME_FORMAT, type AttributeProfile } from './attributes.ts';
import { certificatePem, type IdpKeys } from './keys.ts';
import { NAMEID_FORMATS } from './metadata.ts';
import { certificatePublicKey, signElement, type SignatureAlgorithmName } from './signing.ts';
import { STATUS } from './status.ts';
import { NS, serialize, xmlBuilder } from './xml.ts';

export interface Idp {
  readonly entityId: string;
  readonly keys: IdpKeys;
  readonly signatureAlgorithm: SignatureAlgorithmName;
}

/** Who the response is for, as the validated request and the SP's registration say. */
export interface Recipient {
  readonly spEntityId: string;
  readonly acsUrl: string;
  readonly inResponseTo: string;
  readonly signAssertion: boolean;
  /** The SP's encryption certificates (base64 DER); the first is used. None: the assertion goes in the clear. */
  readonly encryptionCertificates: readonly string[];
  readonly attributeProfile: AttributeProfile;
}

export type AttributeValues = Readonly<Record<string, string | readonly string[] | readonly Record<string, unknown>[]>>;

export interface AssertionContent {
  readonly nameId: { readonly format: string; readonly value: string };
  readonly authnInstant: Date;
  readonly sessionIndex: string;
  readonly loaUri: string;
  readonly authnMethod: string;
  /** Claim name → value(s), already cut to what the SP may receive. */
  readonly attributes: AttributeValues;
  /** The Assertion's ID, when the caller keeps a record of it (RFC 7522 grant); a fresh one otherwise. */
  readonly assertionId?: string;
}

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const TLS_CLIENT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TLSClient';
const newId = () => `_${randomBytes(20).toString('hex')}`;
const instant = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The `authnMethod` attribute's value for how the person logged in (domain.md §9). */
export function authnMethodUri(method: string): string {
  return method === 'mtls' ? TLS_CLIENT : method;
}

/**
 * The NameID for an SP: transient is random per login; persistent is
 * pairwise, an HMAC of the account under an installation key, so two SPs
 * cannot join their users on it and it never reveals the personnummer.
 */
export function nameIdFor(format: string, accountId: string, spEntityId: string, pairwiseKey: Uint8Array): string {
  if (format === NAMEID_FORMATS.persistent) return createHmac('sha256', pairwiseKey).update(`${spEntityId}\u0000${accountId}`).digest('base64url');
  return newId();
}

/**
 * A successful Response over HTTP-POST: the Assertion (bearer subject
 * confirmation, audience, AuthnStatement with SessionIndex and LoA,
 * AttributeStatement) signed per SP, encrypted when the SP has an
 * encryption key (AES-256-GCM, RSA-OAEP), inside a signed Response.
 */
export async function successResponse(idp: Idp, to: Recipient, content: AssertionContent, now: Date, lifetimeMs: number): Promise<string> {
  const notOnOrAfter = instant(new Date(now.getTime() + lifetimeMs));
  // One document for the Response and its Assertion: both are signed where they were built, never serialized and parsed in between.
  const r = responseShell(idp, to.acsUrl, to.inResponseTo, now);
  const { el } = r;
  const assertionIssuer = el(NS.saml, 'saml:Issuer', {}, [idp.entityId]);
  const assertion = el(NS.saml, 'saml:Assertion', { 'xmlns:saml': NS.saml, 'xmlns:xs': NS.xs, 'xmlns:xsi': NS.xsi, ID: content.assertionId ?? newId(), Version: '2.0', IssueInstant: instant(now) }, [
    assertionIssuer,
    el(NS.saml, 'saml:Subject', {}, [
      el(NS.saml, 'saml:NameID', { Format: content.nameId.format, NameQualifier: idp.entityId, SPNameQualifier: to.spEntityId }, [content.nameId.value]),
      el(NS.saml, 'saml:SubjectConfirmation', { Method: BEARER }, [el(NS.saml, 'saml:SubjectConfirmationData', { InResponseTo: to.inResponseTo, NotOnOrAfter: notOnOrAfter, Recipient: to.acsUrl })]),
    ]),
    el(NS.saml, 'saml:Conditions', { NotBefore: instant(now), NotOnOrAfter: notOnOrAfter }, [el(NS.saml, 'saml:AudienceRestriction', {}, [el(NS.saml, 'saml:Audience', {}, [to.spEntityId])])]),
    el(NS.saml, 'saml:AuthnStatement', { AuthnInstant: instant(content.authnInstant), SessionIndex: content.sessionIndex }, [
      el(NS.saml, 'saml:AuthnContext', {}, [el(NS.saml, 'saml:AuthnContextClassRef', {}, [content.loaUri])]),
    ]),
    el(NS.saml, 'saml:AttributeStatement', {}, [
      attribute(r, LEVEL_OF_ASSURANCE_ATTRIBUTE, 'levelOfAssurance', [content.loaUri]),
      attribute(r, AUTHN_METHOD_ATTRIBUTE, 'authnMethod', [content.authnMethod]),
      ...Object.entries(content.attributes).map(([claim, value]) => attribute(r, samlAttributeName(claim, to.attributeProfile), claim, valuesOf(value))),
    ]),
  ]);
  if (to.signAssertion) await signElement(assertion, idp.keys.signing, idp.signatureAlgorithm, { after: assertionIssuer });
  const encryptTo = to.encryptionCertificates[0];
  const carried = encryptTo === undefined ? assertion : el(NS.saml, 'saml:EncryptedAssertion', {}, [r.adopt(await encryptFor(serialize(assertion), encryptTo))]);
  r.fillRoot({}, [status(r, STATUS.success), carried]);
  return signedRoot(idp, r);
}

/** A signed Response carrying only a status: the answer to a request that validated but cannot be met. */
export function statusResponse(idp: Idp, acsUrl: string, inResponseTo: string, now: Date, code: string, subCode: string | undefined, message: string): Promise<string> {
  const r = responseShell(idp, acsUrl, inResponseTo, now);
  r.fillRoot({}, [status(r, code, subCode, message)]);
  return signedRoot(idp, r);
}

/** The message signed on its root, the signature after its Issuer (the first child, as responseShell puts it). */
async function signedRoot(idp: Idp, b: ReturnType<typeof xmlBuilder>): Promise<string> {
  await signElement(b.root, idp.keys.signing, idp.signatureAlgorithm, { after: b.root.firstChild as Element });
  return b.serialize();
}

function responseShell(idp: Idp, destination: string, inResponseTo: string, now: Date, rootName = 'samlp:Response') {
  const r = xmlBuilder(NS.samlp, rootName);
  r.fillRoot({ 'xmlns:saml': NS.saml, ID: newId(), Version: '2.0', IssueInstant: instant(now), Destination: destination, InResponseTo: inResponseTo }, [r.el(NS.saml, 'saml:Issuer', {}, [idp.entityId])]);
  return r;
}

function status(b: ReturnType<typeof xmlBuilder>, code: string, subCode?: string, message?: string) {
  return b.el(NS.samlp, 'samlp:Status', {}, [
    b.el(NS.samlp, 'samlp:StatusCode', { Value: code }, [subCode ? b.el(NS.samlp, 'samlp:StatusCode', { Value: subCode }) : null]),
    message ? b.el(NS.samlp, 'samlp:StatusMessage', {}, [message]) : null,
  ]);
}

function attribute(b: ReturnType<typeof xmlBuilder>, name: string, friendlyName: string, values: readonly string[]) {
  return b.el(
    NS.saml,
    'saml:Attribute',
    { Name: name, NameFormat: URI_NAME_FORMAT, FriendlyName: friendlyName },
    values.map((value) => b.el(NS.saml, 'saml:AttributeValue', { 'xsi:type': 'xs:string' }, [value])),
  );
}

/** Structured values (allCommissions) travel as one JSON text per value. */
function valuesOf(value: AttributeValues[string]): string[] {
  if (typeof value === 'string') return [value];
  return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

/** An SP's encryption key as xml-encryption takes it, read once per certificate. */
const encryptionKeys = new Map<string, { readonly pem: string; readonly publicKey: KeyObject }>();

function encryptFor(assertion: string, certificateBase64: string): Promise<string> {
  let key = encryptionKeys.get(certificateBase64);
  if (!key) {
    if (encryptionKeys.size > 1000) encryptionKeys.clear();
    key = { pem: certificatePem(certificateBase64), publicKey: certificatePublicKey(certificateBase64) };
    encryptionKeys.set(certificateBase64, key);
  }
  const { pem, publicKey } = key;
  return new Promise((resolve, reject) =>
    encrypt(
      assertion,
      {
        // Typed as PEM, but it only goes on to node:crypto's publicEncrypt, which takes the parsed key as well (no PEM parse per response).
        rsa_pub: publicKey as unknown as string,
        pem,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
        disallowEncryptionWithInsecureAlgorithm: true,
        warnInsecureAlgorithm: false,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    ),
  );
}

/** A signed LogoutResponse; `partial` when not every service of the session was told or confirmed (second-level PartialLogout). */
export function logoutResponse(idp: Idp, destination: string, inResponseTo: string, now: Date, partial: boolean): Promise<string> {
  const r = responseShell(idp, destination, inResponseTo, now, 'samlp:LogoutResponse');
  r.fillRoot({}, [status(r, STATUS.success, partial ? STATUS.partialLogout : undefined, partial ? 'the session ended here; not every other service of the session was told or confirmed the logout' : undefined)]);
  return signedRoot(idp, r);
}

/** An IdP-initiated LogoutRequest for one SP's session: unsigned for the Redirect binding (the query string is signed), or `enveloped` (HTTP-POST). */
export async function logoutRequest(idp: Idp, destination: string, nameId: { readonly format: string; readonly value: string }, sessionIndexes: readonly string[], now: Date, lifetimeMs: number, signature: 'none' | 'enveloped' = 'none'): Promise<{ readonly id: string; readonly xml: string }> {
  const id = newId();
  const r = xmlBuilder(NS.samlp, 'samlp:LogoutRequest');
  r.fillRoot({ 'xmlns:saml': NS.saml, ID: id, Version: '2.0', IssueInstant: instant(now), Destination: destination, NotOnOrAfter: instant(new Date(now.getTime() + lifetimeMs)), Reason: 'urn:oasis:names:tc:SAML:2.0:logout:user' }, [
    r.el(NS.saml, 'saml:Issuer', {}, [idp.entityId]),
    r.el(NS.saml, 'saml:NameID', { Format: nameId.format }, [nameId.value]),
    ...sessionIndexes.map((index) => r.el(NS.samlp, 'samlp:SessionIndex', {}, [index])),
  ]);
  return { id, xml: signature === 'enveloped' ? await signedRoot(idp, r) : r.serialize() };
}
