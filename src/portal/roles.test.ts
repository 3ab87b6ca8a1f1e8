import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ACTIONS, may, ROLES, type Action, type Actor, type Role, type RoleAssignment, type Target } from './roles.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const ORG = 'SE2321000016-0001';
const OTHER_ORG = 'SE2321000016-0002';

// Written out independently of the implementation's table: the expected rights of each role (domain.md §5).
const EXPECTED: Record<Role, readonly Action[]> = {
  'id-administrator': ['person.view', 'order.create', 'order.withdraw', 'order.confirm-reserve', 'stock.manage', 'card.hand-out', 'card.unlock', 'revocation.register'],
  'responsible-issuer': ['person.view', 'stock.manage', 'production.export', 'production.import', 'revocation.register', 'role.appoint', 'role.remove', 'audit.read', 'report.read'],
  'deputy-issuer': ['person.view', 'stock.manage', 'production.export', 'production.import', 'revocation.register', 'role.appoint', 'role.remove', 'audit.read', 'report.read'],
  'function-certificate-orderer': ['function-certificate.order'],
  'validation-specialist': ['domain.validate'],
  'security-officer': ['audit.read', 'report.read'],
  'protected-identity-viewer': [],
};

let nextId = 1;
const assignment = (role: Role, organisation = ORG, unit: string | null = null, trainedOn: Date | null = new Date('2026-01-10')): RoleAssignment => ({
  id: nextId++,
  holder: 'SE2321000016-ADM1',
  role,
  organisation,
  unit,
  trainedOn: role === 'id-administrator' ? trainedOn : null,
});
const actor = (...assignments: RoleAssignment[]): Actor => ({ hsaId: 'SE2321000016-ADM1', assignments, now: NOW, trainingValidForDays: 365 });
const inOrg = (extra: Partial<Target> = {}): Target => ({ organisation: ORG, units: ['SE2321000016-U2', 'SE2321000016-U1'], role: 'id-administrator', ...extra });

describe('may: each role does exactly its actions, in its organisation only', () => {
  for (const role of ROLES) {
    for (const action of ACTIONS) {
      const expected = EXPECTED[role].includes(action);
      it(`${role} ${expected ? 'may' : 'may not'} ${action}`, () => {
        const holder = actor(assignment(role));
        assert.equal(may(holder, action, inOrg()), expected, 'in its organisation');
        assert.equal(may(holder, action, inOrg({ organisation: OTHER_ORG })), false, 'in another organisation');
      });
    }
  }

  it('someone without roles may do nothing', () => {
    for (const action of ACTIONS) assert.equal(may(actor(), action, inOrg()), false, action);
  });
});

describe('may: unit subtrees', () => {
  const atUnit = actor(assignment('id-administrator', ORG, 'SE2321000016-U1'));
  it('covers the unit and the units below it', () => {
    assert.equal(may(atUnit, 'order.create', inOrg({ units: ['SE2321000016-U1'] })), true);
    assert.equal(may(atUnit, 'order.create', inOrg({ units: ['SE2321000016-U3', 'SE2321000016-U2', 'SE2321000016-U1'] })), true);
  });
  it('does not cover a sibling, the parent, the organisation level, or the same unit id under another organisation', () => {
    assert.equal(may(atUnit, 'order.create', inOrg({ units: ['SE2321000016-U9'] })), false);
    assert.equal(may(atUnit, 'order.create', inOrg({ units: [] })), false);
    assert.equal(may(atUnit, 'order.create', inOrg({ organisation: OTHER_ORG, units: ['SE2321000016-U1'] })), false);
  });
  it('an organisation-wide role covers every unit', () => {
    assert.equal(may(actor(assignment('id-administrator')), 'card.hand-out', inOrg({ units: [] })), true);
  });
});

describe('may: an ID administrator’s training', () => {
  const withTraining = (trainedOn: Date | null) => actor(assignment('id-administrator', ORG, null, trainedOn));
  it('lapses when missing, older than the limit, or dated in the future', () => {
    assert.equal(may(withTraining(null), 'card.hand-out', inOrg()), false);
    assert.equal(may(withTraining(new Date('2025-05-31T12:00:00Z')), 'card.hand-out', inOrg()), false);
    assert.equal(may(withTraining(new Date('2026-07-01')), 'card.hand-out', inOrg()), false);
  });
  it('holds up to the limit exactly', () => {
    assert.equal(may(withTraining(new Date('2025-06-01T12:00:00Z')), 'card.hand-out', inOrg()), true);
  });
  it('does not affect the other roles', () => {
    assert.equal(may(actor(assignment('responsible-issuer')), 'production.export', inOrg()), true);
  });
});

describe('may: protected identities', () => {
  const target = inOrg({ protectedIdentity: true });
  it('need the extra right in scope besides the role', () => {
    assert.equal(may(actor(assignment('id-administrator')), 'person.view', target), false);
    assert.equal(may(actor(assignment('id-administrator'), assignment('protected-identity-viewer', OTHER_ORG)), 'person.view', target), false);
    assert.equal(may(actor(assignment('id-administrator'), assignment('protected-identity-viewer', ORG, 'SE2321000016-U7')), 'person.view', target), false);
    assert.equal(may(actor(assignment('id-administrator'), assignment('protected-identity-viewer')), 'person.view', target), true);
  });
  it('the right alone allows nothing', () => {
    for (const action of ACTIONS) assert.equal(may(actor(assignment('protected-identity-viewer')), action, target), false, action);
  });
});

describe('may: appointing and removing roles', () => {
  const cases: [Role, Role, boolean][] = [
    ['responsible-issuer', 'id-administrator', true],
    ['responsible-issuer', 'deputy-issuer', true],
    ['responsible-issuer', 'function-certificate-orderer', true],
    ['responsible-issuer', 'security-officer', true],
    ['responsible-issuer', 'protected-identity-viewer', true],
    ['responsible-issuer', 'responsible-issuer', false],
    ['responsible-issuer', 'validation-specialist', false],
    ['deputy-issuer', 'id-administrator', true],
    ['deputy-issuer', 'function-certificate-orderer', true],
    ['deputy-issuer', 'deputy-issuer', false],
    ['deputy-issuer', 'protected-identity-viewer', false],
    ['deputy-issuer', 'responsible-issuer', false],
    ['id-administrator', 'id-administrator', false],
  ];
  for (const [holder, role, expected] of cases) {
    it(`${holder} ${expected ? 'may' : 'may not'} appoint or remove ${role}`, () => {
      assert.equal(may(actor(assignment(holder)), 'role.appoint', inOrg({ role })), expected);
      assert.equal(may(actor(assignment(holder)), 'role.remove', inOrg({ role })), expected);
      assert.equal(may(actor(assignment(holder)), 'role.appoint', inOrg({ role, organisation: OTHER_ORG })), false);
    });
  }
  it('is refused when the role concerned is not named', () => {
    assert.equal(may(actor(assignment('responsible-issuer')), 'role.appoint', { organisation: ORG, units: [] }), false);
  });
});
