// @peculiar/x509 needs the Reflect metadata API.
import 'reflect-metadata';
import assert from 'node:assert/strict';
import * as x509 from '@peculiar/x509';
import { describe, it } from 'node:test';
import type { PersonView } from '../../directory/index.ts';
import { buildClaims, choiceNeeded, grantedClaims, parseClaimsParameter } from './claims.ts';

const commission = (hsaId: string, unit: string) => ({
  hsaId,
  name: `Uppdrag ${hsaId}`,
  purpose: 'Vård och behandling',
  rights: [{ activity: 'Läsa', informationType: 'Alla', scope: 'Vårdgivare' }],
  careProvider: { hsaId: 'SE1-VG', name: 'Region Demo', organisationNumber: '2321000016' },
  careUnit: { hsaId: unit, name: `Enhet ${unit}` },
});
const identity = (hsaId: string, commissions: ReturnType<typeof commission>[]) => ({
  hsaId,
  organisation: { hsaId: 'SE1-VG', name: 'Region Demo', organisationNumber: '2321000016' },
  unit: null,
  titleCode: '204010',
  mail: 'a@example.se',
  telephone: null,
  mobile: null,
  commissions,
});
const person = {
  personnummer: '191212121212',
  givenName: 'Tolvan',
  surname: 'Tolvansson',
  displayName: null,
  protectedIdentity: false,
  deceased: false,
  newPersonnummer: null,
  licences: ['LK'],
  licenceSpecialities: [],
  groupPrescriptionCodes: [],
  personalPrescriptionCode: null,
  missingFromCatalogueSince: null,
  missingFromRegisterSince: null,
  serviceIdentities: [identity('SE1-A', [commission('SE1-C1', 'SE1-U1'), commission('SE1-C2', 'SE1-U2')]), identity('SE1-B', [])],
} satisfies PersonView;
const login = { subject: { personalIdentityNumber: '191212121212' }, method: 'oob-other' as const, loa: 3, authTime: 1, certificatePem: 'not a certificate' };

describe('what the person is asked to choose', () => {
  it('asks nothing for names, a service identity for employee claims, a commission for commission claims', () => {
    assert.deepEqual(choiceNeeded(person, new Set(['name', 'personalIdentityNumber', 'allCommissions']), {}), { ask: 'nothing', choice: { kind: 'none' } });
    assert.equal(choiceNeeded(person, new Set(['employeeHsaId']), {}).ask, 'serviceIdentity');
    const need = choiceNeeded(person, new Set(['commissionHsaId']), {});
    assert.equal(need.ask, 'commission');
    assert.deepEqual(need.ask === 'commission' && need.candidates.map((c) => c.hsaId), ['SE1-C1', 'SE1-C2']);
  });

  it('skips or filters the choice by pinned values, and fails when nothing matches', () => {
    const pin = (claim: string, value: unknown) => ({ id_token: { [claim]: { value } } });
    assert.deepEqual(choiceNeeded(person, new Set(['commissionHsaId']), pin('commissionHsaId', 'SE1-C2')), { ask: 'nothing', choice: { kind: 'commission', hsaId: 'SE1-C2' } });
    assert.deepEqual(choiceNeeded(person, new Set(['commissionHsaId']), pin('healthCareUnitHsaId', 'SE1-U1')), { ask: 'nothing', choice: { kind: 'commission', hsaId: 'SE1-C1' } });
    assert.deepEqual(choiceNeeded(person, new Set(['employeeHsaId']), { userinfo: { employeeHsaId: { values: ['SE1-B', 'SE9-X'] } } }), { ask: 'nothing', choice: { kind: 'serviceIdentity', hsaId: 'SE1-B' } });
    assert.equal(choiceNeeded(person, new Set(['commissionHsaId']), pin('commissionHsaId', 'SE9-NONE')).ask, 'impossible');
    assert.equal(choiceNeeded(person, new Set(['name']), pin('personalIdentityNumber', '198112189876')).ask, 'impossible');
    assert.equal(choiceNeeded(person, new Set(['name']), pin('personalIdentityNumber', '191212121212')).ask, 'nothing');
  });
});

describe('claims released', () => {
  it('cuts requests to what the client may receive', () => {
    const allowed = new Set(['name', 'commissionHsaId']);
    assert.deepEqual([...grantedClaims('openid profile commission', {}, allowed)].sort(), ['commissionHsaId', 'name']);
    assert.deepEqual([...grantedClaims('openid', parseClaimsParameter('{"id_token":{"personalIdentityNumber":null,"name":null}}'), allowed)], ['name']);
  });

  it('builds the chosen commission’s claims and nothing outside the grant', () => {
    const granted = new Set(['name', 'commissionHsaId', 'commissionRight', 'healthCareUnitName', 'employeeHsaId', 'allEmployeeHsaIds', 'x509SubjectName']);
    const claims = buildClaims(login, person, { kind: 'commission', hsaId: 'SE1-C2' }, granted);
    assert.deepEqual(claims, {
      name: 'Tolvan Tolvansson',
      commissionHsaId: 'SE1-C2',
      commissionRight: ['Läsa;Alla;Vårdgivare'],
      healthCareUnitName: 'Enhet SE1-U2',
      employeeHsaId: 'SE1-A',
      allEmployeeHsaIds: ['SE1-A', 'SE1-B'],
    });
    assert.deepEqual(buildClaims(login, person, { kind: 'none' }, new Set(['personalIdentityNumber'])), { personalIdentityNumber: '191212121212' });
  });
});

describe('certificate claims', () => {
  it('reads names and personnummer from the certificate the person used, not from the directory', async () => {
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
    const name = 'C=SE, O=Region Demo, 2.5.4.42=Tolvan, 2.5.4.4=Tolvansson-Cert, 2.5.4.5=191212121212, CN=Tolvan Tolvansson';
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: '01', name, keys, signingAlgorithm: alg, notBefore: new Date(), notAfter: new Date(Date.now() + 86_400_000) }, crypto);
    const withCertificate = { ...login, subject: { personalIdentityNumber: '191212121212', surname: 'From-Directory' }, certificatePem: certificate.toString('pem') };
    const granted = new Set(['credentialGivenName', 'credentialSurname', 'credentialPersonalIdentityNumber', 'x509SubjectName', 'x509IssuerName']);
    assert.deepEqual(buildClaims(withCertificate, person, { kind: 'none' }, granted), {
      credentialGivenName: 'Tolvan',
      credentialSurname: 'Tolvansson-Cert',
      credentialPersonalIdentityNumber: '191212121212',
      x509SubjectName: 'C=SE, O=Region Demo, GN=Tolvan, SN=Tolvansson-Cert, serialNumber=191212121212, CN=Tolvan Tolvansson',
      x509IssuerName: 'C=SE, O=Region Demo, GN=Tolvan, SN=Tolvansson-Cert, serialNumber=191212121212, CN=Tolvan Tolvansson',
    });
  });
});
