import { IdentifierError } from '../identifiers/errors.ts';
import { parseHsaId } from '../identifiers/hsa-id.ts';
import { parseOrganisationNumber } from '../identifiers/organisation-number.ts';
import { parsePersonnummer } from '../identifiers/personnummer.ts';
import { FUNCTION_OBJECT_KINDS, type Commission, type CommissionRight, type FunctionObject, type FunctionObjectKind, type Organisation, type Unit } from '../model.ts';
import type { CatalogueEmployee, EntityKind, Refusal } from '../sync-plan.ts';
import type { LdapAttributeMapping } from '../config.ts';
import { dnKey, parentDn } from './dn.ts';

/**
 * Reading catalogue entries into directory records, one small rule each.
 * An entry that breaks a rule is refused with the rule's reason; the caller
 * reports it and goes on with the rest.
 */

/** An entry as ldapts returns it. */
export interface LdapEntry {
  readonly dn: string;
  readonly [attribute: string]: string | string[] | Buffer | Buffer[];
}

export class EntryRefused extends Error {
  override readonly name = 'EntryRefused';
}

/** Where organisations and units sit in the tree, by DN, so entries below them know their place. */
export interface CatalogueTree {
  readonly organisations: Map<string, string>;
  readonly units: Map<string, { readonly hsaId: string; readonly organisationHsaId: string }>;
  /** Refused organisations and units: what sits below them is refused too, not moved up a level. */
  readonly refused: Set<string>;
}

export const emptyTree = (): CatalogueTree => ({ organisations: new Map(), units: new Map(), refused: new Set() });

/** Every value of an attribute, as text. */
export function values(entry: LdapEntry, attribute: string): string[] {
  const key = Object.hasOwn(entry, attribute) ? attribute : keyOf(entry, attribute);
  const raw = key === undefined ? [] : entry[key]!;
  return (Array.isArray(raw) ? raw : [raw]).map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : v)).filter((v) => v !== '');
}

/**
 * The entry's own spelling of an attribute name: LDAP names are
 * case-insensitive and ldapts keeps the server's spelling. Usually the
 * configured spelling is the server's and `values` finds it directly; this is
 * the fallback, cheap enough to run for every absent attribute of every entry.
 */
function keyOf(entry: LdapEntry, attribute: string): string | undefined {
  const lower = attribute.toLowerCase();
  for (const key of Object.keys(entry)) if (key.length === attribute.length && key.toLowerCase() === lower) return key;
  return undefined;
}

function optional(entry: LdapEntry, attribute: string): string | null {
  const found = values(entry, attribute);
  if (found.length > 1) throw new EntryRefused(`${attribute} has ${found.length} values, expected one`);
  return found[0] ?? null;
}

function required(entry: LdapEntry, attribute: string): string {
  const value = optional(entry, attribute);
  if (value === null) throw new EntryRefused(`${attribute} is missing`);
  return value;
}

function bool(entry: LdapEntry, attribute: string): boolean {
  const value = optional(entry, attribute);
  if (value === null || value === 'FALSE') return false;
  if (value === 'TRUE') return true;
  throw new EntryRefused(`${attribute} is ${JSON.stringify(value)}, expected TRUE or FALSE`);
}

function identifier<T>(attribute: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof IdentifierError) throw new EntryRefused(`${attribute}: ${error.message}`);
    throw error;
  }
}

const hsaIdOf = (entry: LdapEntry, attribute: string) => identifier(attribute, () => parseHsaId(required(entry, attribute)).value);

/** The HSA-id if it can be read at all, for naming a refused entry; else its DN. */
export function refusalKey(entry: LdapEntry, map: LdapAttributeMapping): string {
  const [hsaId] = values(entry, map.hsaId);
  return hsaId ?? entry.dn;
}

export function readOrganisation(entry: LdapEntry, map: LdapAttributeMapping): Organisation {
  return {
    hsaId: hsaIdOf(entry, map.hsaId),
    organisationNumber: identifier(map.organisationNumber, () => parseOrganisationNumber(required(entry, map.organisationNumber))),
    name: required(entry, map.organisationName),
    careProvider: bool(entry, map.careProvider),
  };
}

/** Units must be read parents first (shorter DNs first) so each finds its parent in the tree. */
export function readUnit(entry: LdapEntry, map: LdapAttributeMapping, tree: CatalogueTree): Unit {
  const hsaId = hsaIdOf(entry, map.hsaId);
  const place = placeOf(entry.dn, tree);
  return { hsaId, organisationHsaId: place.organisationHsaId, parentUnitHsaId: place.unitHsaId, name: required(entry, map.unitName), careUnit: bool(entry, map.careUnit) };
}

/** The nearest organisation and unit above a DN. */
export function placeOf(dn: string, tree: CatalogueTree): { organisationHsaId: string; unitHsaId: string | null } {
  for (let above = parentDn(dn); above !== null; above = parentDn(above)) {
    const key = dnKey(above);
    if (tree.refused.has(key)) throw new EntryRefused(`${above} above it was refused`);
    const unit = tree.units.get(key);
    if (unit) return { organisationHsaId: unit.organisationHsaId, unitHsaId: unit.hsaId };
    const organisation = tree.organisations.get(key);
    if (organisation) return { organisationHsaId: organisation, unitHsaId: null };
  }
  throw new EntryRefused('it is not below any organisation in the catalogue');
}

export function readEmployee(entry: LdapEntry, map: LdapAttributeMapping, tree: CatalogueTree, today: Date): CatalogueEmployee {
  const hsaId = hsaIdOf(entry, map.hsaId);
  const personnummer = identifier(map.personnummer, () => parsePersonnummer(required(entry, map.personnummer), today).value);
  const place = placeOf(entry.dn, tree);
  return {
    hsaId,
    personnummer,
    organisationHsaId: place.organisationHsaId,
    unitHsaId: place.unitHsaId,
    titleCode: optional(entry, map.titleCode),
    mail: optional(entry, map.mail),
    telephone: optional(entry, map.telephone),
    mobile: optional(entry, map.mobile),
    person: {
      givenName: required(entry, map.givenName),
      surname: required(entry, map.surname),
      displayName: optional(entry, map.displayName),
      licences: values(entry, map.licences).sort(),
      licenceSpecialities: values(entry, map.licenceSpecialities).sort(),
      groupPrescriptionCodes: values(entry, map.groupPrescriptionCodes).sort(),
      personalPrescriptionCode: optional(entry, map.personalPrescriptionCode),
    },
  };
}

export function readCommission(entry: LdapEntry, map: LdapAttributeMapping): Commission {
  return {
    hsaId: hsaIdOf(entry, map.hsaId),
    serviceIdentityHsaId: hsaIdOf(entry, map.commissionMember),
    name: required(entry, map.commissionName),
    purpose: required(entry, map.commissionPurpose),
    rights: values(entry, map.commissionRight).map((right) => readRight(right, map.commissionRight)),
    careProviderHsaId: hsaIdOf(entry, map.careProviderHsaId),
    careUnitHsaId: hsaIdOf(entry, map.careUnitHsaId),
  };
}

/** A right is written "activity;information type;scope". */
export function readRight(value: string, attribute: string): CommissionRight {
  const parts = value.split(';').map((p) => p.trim());
  if (parts.length !== 3 || parts.some((p) => p === '')) throw new EntryRefused(`${attribute} ${JSON.stringify(value)} is not "activity;information type;scope"`);
  const [activity, informationType, scope] = parts as [string, string, string];
  return { activity, informationType, scope };
}

export function readFunctionObject(entry: LdapEntry, map: LdapAttributeMapping, tree: CatalogueTree): FunctionObject {
  const hsaId = hsaIdOf(entry, map.hsaId);
  const kind = required(entry, map.functionKind).toLowerCase();
  if (!(FUNCTION_OBJECT_KINDS as readonly string[]).includes(kind)) throw new EntryRefused(`${map.functionKind} is ${JSON.stringify(kind)}, expected one of ${FUNCTION_OBJECT_KINDS.join(', ')}`);
  const place = placeOf(entry.dn, tree);
  return {
    hsaId,
    organisationHsaId: place.organisationHsaId,
    unitHsaId: place.unitHsaId,
    name: required(entry, map.functionName),
    kind: kind as FunctionObjectKind,
    dnsNames: values(entry, map.dnsNames).map((n) => n.toLowerCase()).sort(),
    mail: optional(entry, map.mail),
  };
}

/** Runs a reader and turns a refusal into a report line instead of an exception. */
export function readOrRefuse<T>(entity: EntityKind, entry: LdapEntry, map: LdapAttributeMapping, read: () => T, refused: Refusal[]): T | null {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof EntryRefused)) throw error;
    refused.push({ entity, key: refusalKey(entry, map), reason: `${entry.dn}: ${error.message}` });
    return null;
  }
}
