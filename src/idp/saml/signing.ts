import { sign as cryptoSign, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import type { Document, Element } from '@xmldom/xmldom';
import { ExclusiveCanonicalization, SignedXml } from 'xml-crypto';
import type { IdpKey } from './keys.ts';
import { NS, child, children, serialize } from './xml.ts';

/** Signature algorithms we sign with and accept: RSA with SHA-256 or better (no SHA-1). */
export const SIGNATURE_ALGORITHMS = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha512': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
} as const;
export type SignatureAlgorithmName = keyof typeof SIGNATURE_ALGORITHMS;

export const DIGEST_ALGORITHMS = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmlenc#sha256',
  'rsa-sha512': 'http://www.w3.org/2001/04/xmlenc#sha512',
} as const;

export const EXCLUSIVE_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
export const ENVELOPED_SIGNATURE = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';

/** xml-crypto's algorithms, made once: exclusive c14n and the digest classes behind its URIs. */
const c14n = new ExclusiveCanonicalization();
// xml-crypto is typed against the browser's DOM; xmldom's nodes are what it walks at run time.
const canonical = (element: Element): string => c14n.process(element as unknown as Parameters<typeof c14n.process>[0], {});
const library = new SignedXml();
const digesters = new Map(Object.entries(DIGEST_ALGORITHMS).map(([name, uri]) => [name, new library.HashAlgorithms[uri]!()]));
const HASH_OF: Record<SignatureAlgorithmName, string> = { 'rsa-sha256': 'sha256', 'rsa-sha512': 'sha512' };
/** RSA PKCS#1 v1.5 as xml-crypto's RSA-SHA classes make it, but in Node's thread pool: the event loop builds other responses meanwhile. */
const rsaSign = (algorithm: SignatureAlgorithmName, data: string, key: KeyObject) =>
  new Promise<string>((resolve, reject) => cryptoSign(HASH_OF[algorithm], Buffer.from(data, 'utf8'), key, (error, signature) => (error ? reject(error) : resolve(signature.toString('base64')))));

/**
 * Signs `element` (which has an `ID`, and no signature yet) in the DOM it was
 * built in: an enveloped signature with exclusive c14n, one reference (`#ID`),
 * the IdP certificate in KeyInfo, placed where the schema wants it (`after` a
 * child, or first). Canonicalization and digest are xml-crypto's, the RSA
 * signature Node's (off the event loop); the document is neither serialized
 * nor parsed again, and no XPath runs.
 * The digest is taken before the Signature is inserted, which is what the
 * enveloped-signature transform gives a verifier. The document must be
 * serialized with `serialize` (a carriage return in text kept as `&#xD;`),
 * so that it parses back to this very DOM.
 */
export async function signElement(element: Element, key: IdpKey, algorithm: SignatureAlgorithmName, placement: { readonly after: Element } | 'first'): Promise<void> {
  const id = element.getAttribute('ID');
  if (!id) throw new Error(`${element.localName} has no ID to sign`);
  if (children(element, NS.ds, 'Signature').length) throw new Error(`${element.localName} is signed already`);
  const doc = element.ownerDocument!;
  const ds = (name: string, attributes: Record<string, string> = {}, children: (Element | string)[] = []) => {
    const made = doc.createElementNS(NS.ds, `ds:${name}`);
    for (const [attribute, value] of Object.entries(attributes)) made.setAttribute(attribute, value);
    for (const child of children) made.appendChild(typeof child === 'string' ? doc.createTextNode(child) : child);
    return made;
  };
  const digest = digesters.get(algorithm)!.getHash(canonical(element));
  const signedInfo = ds('SignedInfo', {}, [
    ds('CanonicalizationMethod', { Algorithm: EXCLUSIVE_C14N }),
    ds('SignatureMethod', { Algorithm: SIGNATURE_ALGORITHMS[algorithm] }),
    ds('Reference', { URI: `#${id}` }, [
      ds('Transforms', {}, [ds('Transform', { Algorithm: ENVELOPED_SIGNATURE }), ds('Transform', { Algorithm: EXCLUSIVE_C14N })]),
      ds('DigestMethod', { Algorithm: DIGEST_ALGORITHMS[algorithm] }),
      ds('DigestValue', {}, [digest]),
    ]),
  ]);
  const signature = ds('Signature', {}, [signedInfo]);
  signature.setAttributeNS(NS.xmlns, 'xmlns:ds', NS.ds);
  if (placement === 'first') element.insertBefore(signature, element.firstChild);
  else if (placement.after.parentNode === element) element.insertBefore(signature, placement.after.nextSibling);
  else throw new Error(`the signature's place is not a child of ${element.localName}`);
  // SignedInfo is canonicalized where it now stands, as a verifier will read it.
  const value = await rsaSign(algorithm, canonical(signedInfo), key.privateKey);
  signature.appendChild(ds('SignatureValue', {}, [value]));
  signature.appendChild(ds('KeyInfo', {}, [ds('X509Data', {}, [ds('X509Certificate', {}, [key.certificateBase64])])]));
}

/** An SP certificate's public key, parsed once per certificate (a signed request, every time, names the same few). */
const publicKeys = new Map<string, KeyObject>();
export function certificatePublicKey(certificateBase64: string): KeyObject {
  let key = publicKeys.get(certificateBase64);
  if (!key) {
    key = new X509Certificate(Buffer.from(certificateBase64, 'base64')).publicKey;
    if (publicKeys.size >= 1000) publicKeys.clear();
    publicKeys.set(certificateBase64, key);
  }
  return key;
}

/** Why a signature was not accepted (logged; the request gets an error page). */
export class SignatureRefused extends Error {
  override readonly name = 'SignatureRefused';
}

const ALLOWED_SIGNATURES: ReadonlyMap<string, string> = new Map(Object.entries(SIGNATURE_ALGORITHMS).map(([name, uri]) => [uri, name === 'rsa-sha256' ? 'sha256' : 'sha512']));
const ALLOWED_DIGESTS: ReadonlySet<string> = new Set(Object.values(DIGEST_ALGORITHMS));

/**
 * Checks the enveloped signature on the root of `doc` (parsed strictly from
 * `xml`) with the SP's certificates only — never a key from KeyInfo — and
 * returns the canonical XML that was signed: the caller reads the request
 * from that and nothing else. The signature must be a child of the root with
 * one reference to the root's ID, exclusive c14n, enveloped transform and an
 * allowed algorithm; no other signature may appear anywhere.
 */
export function verifyEnvelopedRoot(doc: Document, xml: string, certificatesBase64: readonly string[]): string {
  const root = doc.documentElement!;
  const all = Array.from(root.getElementsByTagNameNS(NS.ds, 'Signature'));
  const own = children(root, NS.ds, 'Signature');
  if (own.length !== 1 || all.length !== 1) throw new SignatureRefused(`expected one signature, a child of the root; found ${all.length} (${own.length} on the root)`);
  const signature = own[0]!;
  const signedInfo = child(signature, NS.ds, 'SignedInfo');
  if (!signedInfo) throw new SignatureRefused('signature without SignedInfo');
  const algorithm = child(signedInfo, NS.ds, 'SignatureMethod')?.getAttribute('Algorithm') ?? '';
  if (!ALLOWED_SIGNATURES.has(algorithm)) throw new SignatureRefused(`signature algorithm ${algorithm || '(none)'} is not allowed (allowed: ${[...ALLOWED_SIGNATURES.keys()].join(', ')})`);
  const c14n = child(signedInfo, NS.ds, 'CanonicalizationMethod')?.getAttribute('Algorithm');
  if (c14n !== EXCLUSIVE_C14N) throw new SignatureRefused(`canonicalization ${c14n ?? '(none)'} is not allowed (exclusive c14n only)`);
  const references = children(signedInfo, NS.ds, 'Reference');
  const id = root.getAttribute('ID');
  if (references.length !== 1) throw new SignatureRefused(`expected one signed reference, found ${references.length}`);
  const reference = references[0]!;
  if (!id || reference.getAttribute('URI') !== `#${id}`) throw new SignatureRefused('the signed reference is not the root element');
  const transforms = child(reference, NS.ds, 'Transforms');
  const transformList = transforms ? children(transforms, NS.ds, 'Transform').map((t) => t.getAttribute('Algorithm')) : [];
  if (transformList.length < 1 || transformList.length > 2 || transformList[0] !== ENVELOPED_SIGNATURE || (transformList[1] !== undefined && transformList[1] !== EXCLUSIVE_C14N)) {
    throw new SignatureRefused(`transforms ${JSON.stringify(transformList)} are not allowed (enveloped signature, then exclusive c14n)`);
  }
  // A comment inside a value is read differently by different readers (xml-crypto CVE-2025-29775): refused outright.
  for (const [parent, name] of [[reference, 'DigestValue'], [signature, 'SignatureValue']] as const) {
    const value = child(parent, NS.ds, name);
    if (!value || Array.from(value.childNodes).some((n) => n.nodeType !== 3)) throw new SignatureRefused(`${name} missing or holding more than text`);
  }
  const digest = child(reference, NS.ds, 'DigestMethod')?.getAttribute('Algorithm') ?? '';
  if (!ALLOWED_DIGESTS.has(digest)) throw new SignatureRefused(`digest algorithm ${digest || '(none)'} is not allowed`);
  if (!certificatesBase64.length) throw new SignatureRefused('the SP metadata has no signing certificate');
  for (const certificate of certificatesBase64) {
    const verifier = new SignedXml({ publicCert: certificatePublicKey(certificate), getCertFromKeyInfo: () => null });
    // Only what the checks above allow, also inside the library.
    verifier.SignatureAlgorithms = { [algorithm]: verifier.SignatureAlgorithms[algorithm]! };
    verifier.HashAlgorithms = { [digest]: verifier.HashAlgorithms[digest]! };
    verifier.CanonicalizationAlgorithms = { [EXCLUSIVE_C14N]: verifier.CanonicalizationAlgorithms[EXCLUSIVE_C14N]!, [ENVELOPED_SIGNATURE]: verifier.CanonicalizationAlgorithms[ENVELOPED_SIGNATURE]! };
    verifier.loadSignature(serialize(signature));
    let valid = false;
    try {
      valid = verifier.checkSignature(xml);
    } catch {
      valid = false;
    }
    const signed = valid ? verifier.getSignedReferences() : [];
    if (signed.length === 1) return signed[0]!;
  }
  throw new SignatureRefused('the signature does not verify with any signing certificate in the SP metadata');
}

/**
 * Checks a detached signature (HTTP-Redirect binding) over one of the
 * encodings of the signed parameters, with the SP's certificates only.
 */
export function verifyDetached(signedBytes: readonly string[], sigAlg: string, signatureBase64: string, certificatesBase64: readonly string[]): void {
  const hash = ALLOWED_SIGNATURES.get(sigAlg);
  if (!hash) throw new SignatureRefused(`signature algorithm ${sigAlg || '(none)'} is not allowed (allowed: ${[...ALLOWED_SIGNATURES.keys()].join(', ')})`);
  if (!certificatesBase64.length) throw new SignatureRefused('the SP metadata has no signing certificate');
  const signature = Buffer.from(signatureBase64, 'base64');
  for (const certificate of certificatesBase64) {
    const key = certificatePublicKey(certificate);
    if (signedBytes.some((bytes) => cryptoVerify(hash, Buffer.from(bytes, 'latin1'), key, signature))) return;
  }
  throw new SignatureRefused('the signature does not verify with any signing certificate in the SP metadata');
}

/**
 * The HTTP-Redirect binding's signature (SAML bindings §3.4.4.1): over
 * `SAMLRequest=…&RelayState=…&SigAlg=…` exactly as sent; returns the query string.
 */
export function signRedirectQuery(parameters: readonly (readonly [string, string])[], key: IdpKey, algorithm: SignatureAlgorithmName): string {
  const signed = [...parameters, ['SigAlg', SIGNATURE_ALGORITHMS[algorithm]] as const].map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join('&');
  const signature = cryptoSign(algorithm === 'rsa-sha256' ? 'sha256' : 'sha512', Buffer.from(signed, 'utf8'), key.privateKey).toString('base64');
  return `${signed}&Signature=${encodeURIComponent(signature)}`;
}
