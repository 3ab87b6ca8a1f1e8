import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAML, type SamlConfig } from '@node-saml/node-saml';

/**
 * Verifies an enveloped signature with xmlsec1 (libxmlsec, not our code),
 * trusting exactly `certificatePem`; `idAttribute` is `ID` on the named element
 * (`urn:…:metadata:EntityDescriptor`, `urn:…:protocol:Response`, …); `signatureXpath`
 * picks which signature when there are several.
 */
export function xmlsecVerify(xml: string, certificatePem: string, idAttributeOn: string[], signatureXpath?: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tillit-saml-'));
  try {
    writeFileSync(join(dir, 'doc.xml'), xml);
    writeFileSync(join(dir, 'cert.pem'), certificatePem);
    const idArgs = idAttributeOn.flatMap((element) => ['--id-attr:ID', element]);
    const result = spawnSync('xmlsec1', ['--verify', '--enabled-reference-uris', 'same-doc', '--pubkey-cert-pem', join(dir, 'cert.pem'), ...idArgs, ...(signatureXpath ? ['--node-xpath', signatureXpath] : []), join(dir, 'doc.xml')], { encoding: 'utf8' });
    return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * node-saml as a service provider of the IdP at `base`: it signs its
 * requests with `privateKey` and accepts only signed assertions from
 * `idpCert`, RSA-SHA256, persistent NameID, LoA 3; `options` change any of it.
 */
export function testServiceProvider(base: string, sp: { entityId: string; acsUrl: string; idpCert: string; privateKey: string }, options: Partial<SamlConfig> = {}): SAML {
  return new SAML({
    entryPoint: `${base}/saml/sso`,
    logoutUrl: `${base}/saml/slo`,
    issuer: sp.entityId,
    callbackUrl: sp.acsUrl,
    audience: sp.entityId,
    idpIssuer: `${base}/saml`,
    idpCert: sp.idpCert,
    privateKey: sp.privateKey,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'sha256',
    identifierFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
    authnContext: ['http://id.sambi.se/loa/loa3'],
    wantAssertionsSigned: true,
    validateInResponseTo: 'never',
    ...options,
  } as SamlConfig);
}
