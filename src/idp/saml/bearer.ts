import type { EphemeralStore } from '../../store/index.ts';
import type { Idp } from './response.ts';
import { SignatureRefused, verifyEnvelopedRoot } from './signing.ts';
import { NS, XmlRefused, child, children, descendants, parseStrict, textOf } from './xml.ts';

/** An assertion we issued: whose it is and which SP it went to. */
interface IssuedAssertion {
  readonly accountId: string;
  readonly spEntityId: string;
}

const issuedKey = (id: string) => `saml:issued:${id}`;
const usedKey = (id: string) => `saml:bearer-used:${id}`;
const MAX_ASSERTION_BYTES = 256 * 1024;

export async function recordIssuedAssertion(store: EphemeralStore, assertionId: string, issued: IssuedAssertion, lifetimeMs: number): Promise<void> {
  await store.set(issuedKey(assertionId), JSON.stringify(issued), lifetimeMs);
}

/**
 * RFC 7522 §3 for an assertion posted to the token endpoint (base64url): our
 * signature on the Assertion itself (with our key only, read again from the
 * signed bytes), our Issuer, an ID we issued to exactly this audience (the
 * client's SP), Audience and bearer confirmation still valid, and used once.
 */
export function bearerAssertionVerifier(deps: { readonly idp: Idp; readonly store: EphemeralStore; readonly now: () => Date; readonly clockSkewMs: number }) {
  return async (encoded: string, audience: string): Promise<{ readonly ok: true; readonly accountId: string } | { readonly ok: false; readonly reason: string }> => {
    try {
      if (encoded.length > (MAX_ASSERTION_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9_=+/-]+$/.test(encoded)) return { ok: false, reason: 'the assertion is not base64url' };
      const xml = Buffer.from(encoded, 'base64url').toString('utf8');
      const doc = parseStrict(xml, MAX_ASSERTION_BYTES);
      if (doc.documentElement!.namespaceURI !== NS.saml || doc.documentElement!.localName !== 'Assertion') return { ok: false, reason: 'not a SAML Assertion' };
      const signed = parseStrict(verifyEnvelopedRoot(doc, xml, [deps.idp.keys.signing.certificateBase64]), MAX_ASSERTION_BYTES).documentElement!;
      const issuer = child(signed, NS.saml, 'Issuer');
      if (!issuer || textOf(issuer).trim() !== deps.idp.entityId) return { ok: false, reason: 'the assertion was not issued by this identity provider' };
      const id = signed.getAttribute('ID') ?? '';
      const raw = id ? await deps.store.get(issuedKey(id)) : null;
      if (!raw) return { ok: false, reason: 'the assertion is unknown or has expired' };
      const issued = JSON.parse(raw) as IssuedAssertion;
      const audiences = descendants(signed, NS.saml, 'Audience').map((a) => textOf(a).trim());
      if (issued.spEntityId !== audience || !audiences.includes(audience)) return { ok: false, reason: 'the assertion was issued to another service provider' };
      const now = deps.now().getTime();
      const conditions = child(signed, NS.saml, 'Conditions');
      const confirmations = children(child(signed, NS.saml, 'Subject') ?? signed, NS.saml, 'SubjectConfirmation').filter((c) => c.getAttribute('Method') === 'urn:oasis:names:tc:SAML:2.0:cm:bearer');
      const limits = [conditions?.getAttribute('NotOnOrAfter'), ...confirmations.map((c) => child(c, NS.saml, 'SubjectConfirmationData')?.getAttribute('NotOnOrAfter'))];
      if (!conditions || confirmations.length === 0 || limits.some((l) => !l || !(Date.parse(l) + deps.clockSkewMs > now))) return { ok: false, reason: 'the assertion has expired' };
      const notBefore = conditions.getAttribute('NotBefore');
      if (notBefore && Date.parse(notBefore) - deps.clockSkewMs > now) return { ok: false, reason: 'the assertion is not valid yet' };
      if (!(await deps.store.setIfAbsent(usedKey(id), '1', Math.max(1000, Date.parse(limits[0]!) + deps.clockSkewMs - now)))) return { ok: false, reason: 'the assertion was already used' };
      return { ok: true, accountId: issued.accountId };
    } catch (error) {
      if (error instanceof SignatureRefused || error instanceof XmlRefused) return { ok: false, reason: `the assertion is refused: ${error.message}` };
      throw error;
    }
  };
}
