import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ldapConfigSchema } from '../config.ts';
import { dnKey, escapeDnValue, parentDn } from './dn.ts';
import { emptyTree, EntryRefused, placeOf, readCommission, readEmployee, readFunctionObject, readOrganisation, readRight, type LdapEntry } from './mapping.ts';

const map = ldapConfigSchema.parse({}).attributes;
const TODAY = new Date('2026-06-01T00:00:00Z');

const refusedWith = (read: () => unknown, pattern: RegExp) => assert.throws(read, (e: unknown) => e instanceof EntryRefused && pattern.test(e.message), String(pattern));

describe('DNs', () => {
  it('finds the parent past escaped commas', () => {
    assert.equal(parentDn('ou=Hud\\, vuxna,o=Region,c=SE'), 'o=Region,c=SE');
    assert.equal(parentDn('ou=A\\2C B,c=SE'), 'c=SE');
    assert.equal(parentDn('c=SE'), null);
  });

  it('escapes what RFC 4514 requires and round-trips through parentDn', () => {
    const name = ' #Hud, vuxna+barn "x"; <y> ';
    const dn = `ou=${escapeDnValue(name)},o=Region,c=SE`;
    assert.equal(parentDn(dn), 'o=Region,c=SE');
    assert.equal(escapeDnValue('Hud, vuxna'), 'Hud\\, vuxna');
    assert.ok(escapeDnValue(' x ').startsWith('\\ ') && escapeDnValue(' x ').endsWith('\\ '));
  });

  it('compares DNs regardless of case and spaces after commas', () => {
    assert.equal(dnKey('OU=Hud, O=Region,C=SE'), dnKey('ou=hud,o=region,c=se'));
  });
});

describe('reading catalogue entries', () => {
  const tree = emptyTree();
  tree.organisations.set(dnKey('o=Region,c=SE'), 'SE2321000016-0001');
  tree.units.set(dnKey('ou=Hud,o=Region,c=SE'), { hsaId: 'SE2321000016-E1', organisationHsaId: 'SE2321000016-0001' });
  tree.refused.add(dnKey('ou=Trasig,o=Region,c=SE'));
  const person: LdapEntry = {
    dn: 'hsaIdentity=SE2321000016-P1,ou=Hud,o=Region,c=SE',
    hsaIdentity: 'SE2321000016-P1',
    personalIdentityNumber: '191212121212',
    givenName: 'Tolvan',
    sn: 'Tolvansson',
    hsaHealthCareProfessionalLicence: ['Sjuksköterska', 'Läkare'],
  };

  it('reads an employee, its place in the tree and sorted multi-values', () => {
    const employee = readEmployee(person, map, tree, TODAY);
    assert.equal(employee.unitHsaId, 'SE2321000016-E1');
    assert.equal(employee.organisationHsaId, 'SE2321000016-0001');
    assert.deepEqual(employee.person.licences, ['Läkare', 'Sjuksköterska']);
    assert.equal(employee.mail, null);
  });

  it('matches attribute names without regard to case, as LDAP does', () => {
    const { personalIdentityNumber, ...rest } = person;
    assert.equal(readEmployee({ ...rest, PERSONALIDENTITYNUMBER: personalIdentityNumber! }, map, tree, TODAY).personnummer, '191212121212');
  });

  it('refuses what breaks a rule, saying which', () => {
    refusedWith(() => readEmployee({ ...person, personalIdentityNumber: '19121212121' }, map, tree, TODAY), /personalIdentityNumber: personnummer refused \(format\)/);
    refusedWith(() => readEmployee({ ...person, personalIdentityNumber: ['191212121212', '197010632391'] }, map, tree, TODAY), /has 2 values, expected one/);
    refusedWith(() => readEmployee({ ...person, hsaIdentity: 'SE2321000016-p1' }, map, tree, TODAY), /hsaIdentity: HSA-id refused \(suffix\)/);
    refusedWith(() => readEmployee({ ...person, sn: '' }, map, tree, TODAY), /sn is missing/);
    refusedWith(() => readEmployee({ ...person, dn: 'hsaIdentity=SE2321000016-P1,o=Elsewhere,c=SE' }, map, tree, TODAY), /not below any organisation/);
    refusedWith(() => readEmployee({ ...person, dn: 'hsaIdentity=SE2321000016-P1,ou=Trasig,o=Region,c=SE' }, map, tree, TODAY), /above it was refused/);
    refusedWith(() => readOrganisation({ dn: 'o=X,c=SE', hsaIdentity: 'SE2321000016-0001', o: 'X', orgNo: '2321000016', hsaHealthCareProvider: 'yes' }, map), /expected TRUE or FALSE/);
    refusedWith(() => readOrganisation({ dn: 'o=X,c=SE', hsaIdentity: 'SE2321000016-0001', o: 'X', orgNo: '2321000017' }, map), /orgNo: organisation number refused \(checksum\)/);
    refusedWith(() => readFunctionObject({ dn: 'cn=f,o=Region,c=SE', hsaIdentity: 'SE2321000016-F1', cn: 'f', hsaFunctionKind: 'printer' }, map, tree), /expected one of server, system, mailbox/);
    refusedWith(() => placeOf('c=SE', tree), /not below any organisation/);
  });

  it('reads commission rights as activity;information type;scope', () => {
    assert.deepEqual(readRight(' Läsa ; Alla ; Vårdgivare ', 'r'), { activity: 'Läsa', informationType: 'Alla', scope: 'Vårdgivare' });
    for (const bad of ['Läsa;Alla', 'Läsa;;Vårdgivare', 'a;b;c;d']) refusedWith(() => readRight(bad, 'r'), /is not "activity;information type;scope"/);
    const commission = readCommission(
      {
        dn: 'hsaIdentity=SE2321000016-P1C0,hsaIdentity=SE2321000016-P1,ou=Hud,o=Region,c=SE',
        hsaIdentity: 'SE2321000016-P1C0',
        cn: 'Uppdrag',
        hsaCommissionPurpose: 'Vård och behandling',
        hsaCommissionMember: 'SE2321000016-P1',
        hsaHealthCareProviderHsaId: 'SE2321000016-0001',
        hsaHealthCareUnitHsaId: 'SE2321000016-E1',
      },
      map,
    );
    assert.deepEqual(commission.rights, []);
  });

  it('refuses a StartTLS setting on an ldaps:// URL', () => {
    assert.throws(() => ldapConfigSchema.parse({ url: 'ldaps://x:636', startTls: true }), /startTls is for ldap:\/\//);
    assert.throws(() => ldapConfigSchema.parse({ url: 'http://x' }), /expected ldap:\/\/host:port/);
  });
});
