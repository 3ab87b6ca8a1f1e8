import { SignedXml } from 'xml-crypto';
import type { IdpKey } from './keys.ts';

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
    privateKey: key.privateKeyPem,
    publicCert: key.certificatePem,
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
