import { sign as cryptoSign, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import type { Document } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { certificatePem, type IdpKey } from './keys.ts';
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

/**
 * Signs the root element of `xml` with an enveloped signature: exclusive
 * c14n, one reference (the root's ID), the IdP certificate in KeyInfo. The
 * signature goes where the schema wants it (`after` an element, or first).
 */
export function signRoot(xml: string, key: IdpKey, algorithm: SignatureAlgorithmName, placement: { readonly after: string } | 'first'): string {
  const signer = new SignedXml({
    // The parsed key object: a PEM string would be parsed again for every signature.
    privateKey: key.privateKey,
    publicCert: key.certificatePem,
    // The certificate's base64 as loaded: xml-crypto would otherwise re-parse the PEM for every signature.
    getKeyInfoContent: (args) => {
      const p = args?.prefix ? `${args.prefix}:` : '';
      return `<${p}X509Data><${p}X509Certificate>${key.certificateBase64}</${p}X509Certificate></${p}X509Data>`;
    },
    signatureAlgorithm: SIGNATURE_ALGORITHMS[algorithm],
    canonicalizationAlgorithm: EXCLUSIVE_C14N,
  });
  signer.addReference({ xpath: '/*', transforms: [ENVELOPED_SIGNATURE, EXCLUSIVE_C14N], digestAlgorithm: DIGEST_ALGORITHMS[algorithm] });
  signer.computeSignature(xml, {
    prefix: 'ds',
    location: placement === 'first' ? { reference: '/*', action: 'prepend' } : { reference: placement.after, action: 'after' },
  });
  return signer.getSignedXml();
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
    const verifier = new SignedXml({ publicCert: certificatePem(certificate), getCertFromKeyInfo: () => null });
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
    const key = new X509Certificate(Buffer.from(certificate, 'base64')).publicKey;
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
