/**
 * SAML names of the healthcare attributes (domain.md §9). Each attribute is
 * known by its OIDC claim name inside Tillit; on the wire it has SITHS'
 * name (`http://sambi.se/attributes/1/<name>` and a few `urn:` names) or,
 * for an SP registered for it, the Swedish eID framework's `urn:oid:` name
 * where the framework has one.
 */
export const URI_NAME_FORMAT = 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri';

/** Which naming an SP receives. */
export const ATTRIBUTE_PROFILES = ['sambi', 'oid'] as const;
export type AttributeProfile = (typeof ATTRIBUTE_PROFILES)[number];

const sambi = (name: string) => `http://sambi.se/attributes/1/${name}`;

interface AttributeName {
  readonly sambi: string;
  readonly oid?: string;
}

/** Claim name → SAML names. */
export const SAML_ATTRIBUTES: Readonly<Record<string, AttributeName>> = {
  name: { sambi: sambi('displayName'), oid: 'urn:oid:2.16.840.1.113730.3.1.241' },
  given_name: { sambi: sambi('givenName'), oid: 'urn:oid:2.5.4.42' },
  family_name: { sambi: sambi('surname'), oid: 'urn:oid:2.5.4.4' },
  personalIdentityNumber: { sambi: sambi('personalIdentityNumber'), oid: 'urn:oid:1.2.752.29.4.13' },
  employeeHsaId: { sambi: sambi('employeeHsaId'), oid: 'urn:oid:1.2.752.29.6.2.1' },
  allEmployeeHsaIds: { sambi: 'urn:allEmployeeHsaIds' },
  organizationIdentifier: { sambi: sambi('organizationIdentifier'), oid: 'urn:oid:2.5.4.97' },
  organizationName: { sambi: sambi('organizationName'), oid: 'urn:oid:2.5.4.10' },
  title: { sambi: sambi('title'), oid: 'urn:oid:2.5.4.12' },
  paTitleCode: { sambi: sambi('paTitleCode') },
  mail: { sambi: sambi('mail'), oid: 'urn:oid:0.9.2342.19200300.100.1.3' },
  telephoneNumber: { sambi: sambi('telephoneNumber'), oid: 'urn:oid:2.5.4.20' },
  mobileTelephoneNumber: { sambi: sambi('mobileTelephoneNumber'), oid: 'urn:oid:0.9.2342.19200300.100.1.41' },
  commissionHsaId: { sambi: sambi('commissionHsaId') },
  commissionName: { sambi: sambi('commissionName') },
  commissionPurpose: { sambi: sambi('commissionPurpose') },
  commissionRight: { sambi: sambi('commissionRight') },
  healthCareProviderHsaId: { sambi: sambi('healthCareProviderHsaId') },
  healthCareProviderName: { sambi: sambi('healthCareProviderName') },
  healthCareUnitHsaId: { sambi: sambi('healthCareUnitHsaId') },
  healthCareUnitName: { sambi: sambi('healthCareUnitName') },
  allCommissions: { sambi: 'urn:allCommissions' },
  healthcareProfessionalLicense: { sambi: sambi('healthcareProfessionalLicense') },
  healthCareProfessionalLicenceSpeciality: { sambi: sambi('healthCareProfessionalLicenceSpeciality') },
  groupPrescriptionCode: { sambi: sambi('groupPrescriptionCode') },
  personalPrescriptionCode: { sambi: sambi('personalPrescriptionCode') },
  credentialGivenName: { sambi: 'urn:credential:givenName' },
  credentialSurname: { sambi: 'urn:credential:surname' },
  credentialPersonalIdentityNumber: { sambi: 'urn:credential:personalIdentityNumber' },
  x509SubjectName: { sambi: 'http://www.w3.org/2000/09/xmldsig#X509SubjectName' },
  x509IssuerName: { sambi: 'http://www.w3.org/2000/09/xmldsig#X509IssuerName' },
};

/** The authentication's own attributes, released to every SP beside AuthnContextClassRef. */
export const LEVEL_OF_ASSURANCE_ATTRIBUTE = 'urn:sambi:names:attribute:levelOfAssurance';
export const AUTHN_METHOD_ATTRIBUTE = 'urn:sambi:names:attribute:authnMethod';

/** The wire name of a claim for an SP with this profile. */
export function samlAttributeName(claim: string, profile: AttributeProfile): string {
  const names = SAML_ATTRIBUTES[claim];
  if (!names) throw new Error(`no SAML name for claim ${claim}`);
  return profile === 'oid' ? (names.oid ?? names.sambi) : names.sambi;
}

/** Attributes a PrincipalSelection MatchValue may name, with the claim each pins. */
export const PRINCIPAL_SELECTION_ATTRIBUTES: Readonly<Record<string, string>> = {
  'urn:oid:1.2.752.29.4.13': 'personalIdentityNumber',
  'urn:oid:1.2.752.29.6.2.1': 'employeeHsaId',
  'urn:oid:2.5.4.97': 'organizationIdentifier',
  [sambi('personalIdentityNumber')]: 'personalIdentityNumber',
  [sambi('employeeHsaId')]: 'employeeHsaId',
  [sambi('organizationIdentifier')]: 'organizationIdentifier',
  [sambi('commissionHsaId')]: 'commissionHsaId',
  [sambi('healthCareProviderHsaId')]: 'healthCareProviderHsaId',
  [sambi('healthCareUnitHsaId')]: 'healthCareUnitHsaId',
};
