import type { Region } from '../generate.ts';
import type { Unit } from '../model.ts';
import { escapeDnValue } from './dn.ts';

/**
 * Writes a region as LDIF in the shape of tillit-hsa.schema: organisations
 * below the base, units below their parent, employee entries below their
 * unit, commissions below their employee. Parents come before children, as
 * slapadd requires.
 */
export interface LdifOptions {
  readonly baseDn?: string;
  /** GeneralizedTime to stamp every entry with (slapadd keeps it), so tests know what counts as changed later. */
  readonly modifyTimestamp?: string;
}

export function regionToLdif(region: Region, options: LdifOptions = {}): string {
  const baseDn = options.baseDn ?? 'c=SE';
  const stamp: Attribute[] = options.modifyTimestamp ? [['createTimestamp', options.modifyTimestamp], ['modifyTimestamp', options.modifyTimestamp]] : [];
  const entry = (dn: string, attributes: readonly Attribute[]) => ldifEntry(dn, [...attributes, ...stamp]);
  const out: string[] = [entry(baseDn, baseEntryAttributes(baseDn))];
  const dnOf = new Map<string, string>();
  for (const organisation of region.organisations) {
    const dn = `o=${escapeDnValue(organisation.name)},${baseDn}`;
    dnOf.set(organisation.hsaId, dn);
    out.push(
      entry(dn, [
        ['objectClass', ['top', 'organization', 'hsaOrganizationExtension']],
        ['o', organisation.name],
        ['hsaIdentity', organisation.hsaId],
        ['orgNo', organisation.organisationNumber],
        ['hsaHealthCareProvider', organisation.careProvider ? 'TRUE' : 'FALSE'],
      ]),
    );
  }
  for (const unit of parentsFirst(region.units)) {
    const dn = `ou=${escapeDnValue(unit.name)},${dnOf.get(unit.parentUnitHsaId ?? unit.organisationHsaId)}`;
    dnOf.set(unit.hsaId, dn);
    out.push(
      entry(dn, [
        ['objectClass', ['top', 'organizationalUnit', 'hsaUnitExtension']],
        ['ou', unit.name],
        ['hsaIdentity', unit.hsaId],
        ['hsaHealthCareUnit', unit.careUnit ? 'TRUE' : 'FALSE'],
      ]),
    );
  }
  for (const fo of region.functionObjects) {
    out.push(
      entry(`hsaIdentity=${fo.hsaId},${dnOf.get(fo.unitHsaId ?? fo.organisationHsaId)}`, [
        ['objectClass', ['top', 'hsaFunction']],
        ['cn', fo.name],
        ['hsaIdentity', fo.hsaId],
        ['hsaFunctionKind', fo.kind],
        ['hsaDnsName', [...fo.dnsNames]],
        ['mail', fo.mail],
      ]),
    );
  }
  const commissionsOf = Map.groupBy(region.commissions, (c) => c.serviceIdentityHsaId);
  for (const employee of region.employees) {
    const dn = `hsaIdentity=${employee.hsaId},${dnOf.get(employee.unitHsaId ?? employee.organisationHsaId)}`;
    const p = employee.person;
    out.push(
      entry(dn, [
        ['objectClass', ['top', 'person', 'organizationalPerson', 'inetOrgPerson', 'hsaPersonExtension']],
        ['cn', p.displayName ?? `${p.givenName} ${p.surname}`],
        ['givenName', p.givenName],
        ['sn', p.surname],
        ['displayName', p.displayName],
        ['hsaIdentity', employee.hsaId],
        ['personalIdentityNumber', employee.personnummer],
        ['paTitleCode', employee.titleCode],
        ['mail', employee.mail],
        ['telephoneNumber', employee.telephone],
        ['mobile', employee.mobile],
        ['hsaHealthCareProfessionalLicence', [...p.licences]],
        ['hsaHealthCareProfessionalLicenceSpeciality', [...p.licenceSpecialities]],
        ['hsaGroupPrescriptionCode', [...p.groupPrescriptionCodes]],
        ['personalPrescriptionCode', p.personalPrescriptionCode],
      ]),
    );
    for (const commission of commissionsOf.get(employee.hsaId) ?? []) {
      out.push(
        entry(`hsaIdentity=${commission.hsaId},${dn}`, [
          ['objectClass', ['top', 'hsaCommission']],
          ['cn', commission.name],
          ['hsaIdentity', commission.hsaId],
          ['hsaCommissionPurpose', commission.purpose],
          ['hsaCommissionRight', commission.rights.map((r) => `${r.activity};${r.informationType};${r.scope}`)],
          ['hsaCommissionMember', commission.serviceIdentityHsaId],
          ['hsaHealthCareProviderHsaId', commission.careProviderHsaId],
          ['hsaHealthCareUnitHsaId', commission.careUnitHsaId],
        ]),
      );
    }
  }
  return out.join('\n');
}

type Attribute = [name: string, value: string | readonly string[] | null];

function baseEntryAttributes(baseDn: string): Attribute[] {
  const [type, value = ''] = baseDn.split(',')[0]!.split('=') as [string, string?];
  switch (type.toLowerCase()) {
    case 'c':
      return [['objectClass', ['top', 'country']], ['c', value]];
    case 'dc':
      return [['objectClass', ['top', 'dcObject', 'organization']], ['dc', value], ['o', value]];
    case 'o':
      return [['objectClass', ['top', 'organization']], ['o', value]];
    default:
      return [['objectClass', ['top', 'organizationalUnit']], ['ou', value]];
  }
}

function parentsFirst(units: readonly Unit[]): Unit[] {
  const placed = new Set<string>();
  const ordered: Unit[] = [];
  let pending = [...units];
  while (pending.length > 0) {
    const ready = pending.filter((u) => u.parentUnitHsaId === null || placed.has(u.parentUnitHsaId));
    if (ready.length === 0) throw new Error(`units ${pending.map((u) => u.hsaId).join(', ')} have parents outside the region`);
    for (const unit of ready) {
      placed.add(unit.hsaId);
      ordered.push(unit);
    }
    pending = pending.filter((u) => !placed.has(u.hsaId));
  }
  return ordered;
}

/** One LDIF record; empty and null values are left out. */
export function ldifEntry(dn: string, attributes: readonly Attribute[]): string {
  const lines = [line('dn', dn)];
  for (const [name, value] of attributes) {
    for (const v of value === null ? [] : typeof value === 'string' ? [value] : value) if (v !== '') lines.push(line(name, v));
  }
  return `${lines.join('\n')}\n`;
}

// RFC 2849 SAFE-STRING: printable ASCII that does not start with space, ':' or '<'; anything else is base64.
const SAFE = /^(?:[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*)?$/;

function line(name: string, value: string): string {
  return SAFE.test(value) && !value.endsWith(' ') ? `${name}: ${value}` : `${name}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}
