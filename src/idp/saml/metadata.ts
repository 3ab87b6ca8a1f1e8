import { randomBytes } from 'node:crypto';
import { AUTHN_METHOD_ATTRIBUTE, LEVEL_OF_ASSURANCE_ATTRIBUTE, PRINCIPAL_SELECTION_ATTRIBUTES, SAML_ATTRIBUTES, URI_NAME_FORMAT } from './attributes.ts';
import type { IdpKeys } from './keys.ts';
import { signElement, type SignatureAlgorithmName } from './signing.ts';
import { NS, xmlBuilder } from './xml.ts';

export const BINDINGS = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

export const NAMEID_FORMATS = {
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
} as const;

export const ASSURANCE_CERTIFICATION = 'urn:oasis:names:tc:SAML:attribute:assurance-certification';

/** Where the IdP's endpoints are, from its entityID `<publicBaseUrl>/saml`. */
export function idpEndpoints(publicBaseUrl: string) {
  const entityId = `${publicBaseUrl}/saml`;
  return { entityId, metadata: `${entityId}/metadata`, sso: `${entityId}/sso`, slo: `${entityId}/slo` };
}

export interface IdpDescription {
  readonly publicBaseUrl: string;
  readonly keys: IdpKeys;
  readonly signatureAlgorithm: SignatureAlgorithmName;
  readonly wantAuthnRequestsSigned: boolean;
  /** The LoA URIs the IdP is certified for (assurance-certification). */
  readonly loaUris: readonly string[];
  readonly organization: { readonly name: Localized; readonly displayName: Localized; readonly url: string };
  readonly validUntil: Date;
}
type Localized = { readonly sv: string; readonly en: string };

/**
 * The IdP's metadata (SAML metadata 2.0 with the entity-attribute, UI-info
 * and Sweden Connect principal-selection extensions), signed.
 */
export async function idpMetadata(idp: IdpDescription): Promise<string> {
  const endpoints = idpEndpoints(idp.publicBaseUrl);
  const b = xmlBuilder(NS.md, 'md:EntityDescriptor');
  const { el } = b;
  const localized = (ns: string, name: string, text: Localized) => (['sv', 'en'] as const).map((lang) => el(ns, name, { 'xml:lang': lang }, [text[lang]]));
  const keyDescriptor = (use: 'signing' | 'encryption', certificateBase64: string) =>
    el(NS.md, 'md:KeyDescriptor', { use }, [el(NS.ds, 'ds:KeyInfo', { 'xmlns:ds': NS.ds }, [el(NS.ds, 'ds:X509Data', {}, [el(NS.ds, 'ds:X509Certificate', {}, [certificateBase64])])])]);
  const service = (name: string, binding: string, location: string) => el(NS.md, name, { Binding: binding, Location: location });
  const attribute = (name: string, friendlyName: string) => el(NS.saml, 'saml:Attribute', { Name: name, NameFormat: URI_NAME_FORMAT, FriendlyName: friendlyName });

  b.fillRoot(
    {
      'xmlns:saml': NS.saml,
      ID: `_${randomBytes(20).toString('hex')}`,
      entityID: endpoints.entityId,
      validUntil: idp.validUntil.toISOString(),
    },
    [
      el(NS.md, 'md:Extensions', {}, [
        el(NS.mdattr, 'mdattr:EntityAttributes', { 'xmlns:mdattr': NS.mdattr }, [
          el(
            NS.saml,
            'saml:Attribute',
            { Name: ASSURANCE_CERTIFICATION, NameFormat: URI_NAME_FORMAT },
            idp.loaUris.map((uri) => el(NS.saml, 'saml:AttributeValue', {}, [uri])),
          ),
        ]),
      ]),
      el(NS.md, 'md:IDPSSODescriptor', { protocolSupportEnumeration: 'urn:oasis:names:tc:SAML:2.0:protocol', WantAuthnRequestsSigned: idp.wantAuthnRequestsSigned }, [
        el(NS.md, 'md:Extensions', {}, [
          el(NS.mdui, 'mdui:UIInfo', { 'xmlns:mdui': NS.mdui }, localized(NS.mdui, 'mdui:DisplayName', idp.organization.displayName)),
          el(
            NS.psc,
            'psc:RequestedPrincipalSelection',
            { 'xmlns:psc': NS.psc },
            Object.keys(PRINCIPAL_SELECTION_ATTRIBUTES)
              .filter((name) => name.startsWith('urn:oid:'))
              .map((name) => el(NS.psc, 'psc:MatchValue', { Name: name })),
          ),
        ]),
        keyDescriptor('signing', idp.keys.signing.certificateBase64),
        keyDescriptor('encryption', idp.keys.encryption.certificateBase64),
        service('md:SingleLogoutService', BINDINGS.redirect, endpoints.slo),
        service('md:SingleLogoutService', BINDINGS.post, endpoints.slo),
        el(NS.md, 'md:NameIDFormat', {}, [NAMEID_FORMATS.transient]),
        el(NS.md, 'md:NameIDFormat', {}, [NAMEID_FORMATS.persistent]),
        service('md:SingleSignOnService', BINDINGS.redirect, endpoints.sso),
        service('md:SingleSignOnService', BINDINGS.post, endpoints.sso),
        attribute(LEVEL_OF_ASSURANCE_ATTRIBUTE, 'levelOfAssurance'),
        attribute(AUTHN_METHOD_ATTRIBUTE, 'authnMethod'),
        ...Object.entries(SAML_ATTRIBUTES).map(([claim, names]) => attribute(names.sambi, claim)),
      ]),
      el(NS.md, 'md:Organization', {}, [
        ...localized(NS.md, 'md:OrganizationName', idp.organization.name),
        ...localized(NS.md, 'md:OrganizationDisplayName', idp.organization.displayName),
        ...(['sv', 'en'] as const).map((lang) => el(NS.md, 'md:OrganizationURL', { 'xml:lang': lang }, [idp.organization.url])),
      ]),
    ],
  );
  await signElement(b.root, idp.keys.signing, idp.signatureAlgorithm, 'first');
  return b.serialize();
}
