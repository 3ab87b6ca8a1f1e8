import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
