import * as pkijs from 'pkijs';

const ID_DATA = '1.2.840.113549.1.7.1';
const ID_SIGNED_DATA = '1.2.840.113549.1.7.2';

/** A certs-only PKCS#7 (CMS SignedData without signers, RFC 5652 §5), the form Windows and many servers import a chain in. */
export function certsOnlyPkcs7(certificatesPem: readonly string[]): Uint8Array {
  const certificates = certificatesPem.map((pem) => pkijs.Certificate.fromBER(pemToDer(pem)));
  const signed = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: ID_DATA }),
    certificates,
    signerInfos: [],
  });
  const info = new pkijs.ContentInfo({ contentType: ID_SIGNED_DATA, content: signed.toSchema() });
  return new Uint8Array(info.toSchema().toBER(false));
}

function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw new Error('expected a PEM certificate');
  return new Uint8Array(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
}

/** PEM blocks in a text, in order. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)?.map((b) => (b.endsWith('\n') ? b : `${b}\n`)) ?? [];
}

