import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withPersonnummerCheckDigit } from '../../directory/index.ts';
import { PortalRefused } from '../errors.ts';
import { ageOn, checkEligibility, type EligibilityInput } from './eligibility.ts';
import { checkIdentityCheck, SEVEN_STEPS, type IdentityCheck } from './identity-check.ts';
import { sniffPhoto } from './photo.ts';

const now = new Date('2026-06-15T10:00:00Z');
const refusedWith = (pattern: RegExp) => (e: unknown) => e instanceof PortalRefused && e.kind === 'invalid' && pattern.test(e.message);

// Valid numbers (Luhn) built for the cases: born 2008-06-15 (18 today), 2008-06-16 (17), 2011-06-15 (15), samordningsnummer 1990-01-01 (day + 60).
const pnr = (first11: string) => withPersonnummerCheckDigit(first11);
const eighteenToday = pnr('20080615123');
const seventeen = pnr('20080616123');
const fifteenToday = pnr('20110615123');
const fourteen = pnr('20110616123');
const coordination = pnr('19900161123');

describe('order eligibility', () => {
  const input = (extra: Partial<EligibilityInput>): EligibilityInput => ({ kind: 'ordinary', loa: 3, personnummer: eighteenToday, deceased: false, now, ...extra });
  it('counts age in completed years', () => {
    assert.equal(ageOn('2008-06-15', now), 18);
    assert.equal(ageOn('2008-06-16', now), 17);
    assert.equal(ageOn('2008-07-01', now), 17);
  });
  it('LoA 3 from the 18th birthday, with a personnummer only', () => {
    assert.doesNotThrow(() => checkEligibility(input({})));
    assert.throws(() => checkEligibility(input({ personnummer: seventeen })), refusedWith(/18 or older \(the person is 17\)/));
    assert.throws(() => checkEligibility(input({ personnummer: coordination })), refusedWith(/coordination number/));
    assert.throws(() => checkEligibility(input({ kind: 'reserve', personnummer: coordination })), refusedWith(/coordination number/));
  });
  it('LoA 2 from the 15th birthday, coordination numbers allowed', () => {
    assert.doesNotThrow(() => checkEligibility(input({ kind: 'reserve', loa: 2, personnummer: fifteenToday })));
    assert.doesNotThrow(() => checkEligibility(input({ kind: 'reserve', loa: 2, personnummer: coordination })));
    assert.throws(() => checkEligibility(input({ kind: 'reserve', loa: 2, personnummer: fourteen })), refusedWith(/15 or older \(the person is 14\)/));
    assert.throws(() => checkEligibility(input({ kind: 'test', loa: null, personnummer: fourteen })), refusedWith(/15 or older/));
  });
  it('kind and level go together; the deceased get no card; a broken number is named', () => {
    assert.throws(() => checkEligibility(input({ loa: 2 })), refusedWith(/ordinary card is LoA 3/));
    assert.throws(() => checkEligibility(input({ kind: 'reserve', loa: null })), refusedWith(/reserve card is LoA 2 or LoA 3/));
    assert.throws(() => checkEligibility(input({ kind: 'test', loa: 3 })), refusedWith(/test card carries no assurance/));
    assert.throws(() => checkEligibility(input({ deceased: true })), refusedWith(/deceased/));
    assert.throws(() => checkEligibility(input({ personnummer: '200806151230' })), refusedWith(/identity number cannot be used/));
  });
});

describe('photo sniffing', () => {
  const jpeg = Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]);
  const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1]);
  it('tells JPEG and PNG by their first bytes', () => {
    assert.equal(sniffPhoto(jpeg, 1000), 'image/jpeg');
    assert.equal(sniffPhoto(png, 1000), 'image/png');
  });
  it('refuses anything else, an empty file and one over the cap', () => {
    assert.throws(() => sniffPhoto(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'), 1000), refusedWith(/not a JPEG or PNG/));
    assert.throws(() => sniffPhoto(Uint8Array.from([0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 1, 2, 3]), 1000), refusedWith(/not a JPEG or PNG/));
    assert.throws(() => sniffPhoto(png.subarray(0, 12), 1000), refusedWith(/not a JPEG or PNG/));
    assert.throws(() => sniffPhoto(new Uint8Array(0), 1000), refusedWith(/empty/));
    assert.throws(() => sniffPhoto(jpeg, 10), refusedWith(/11 bytes; at most 10/));
  });
});

describe('the seven-step identity check', () => {
  const allDone = Object.fromEntries(SEVEN_STEPS.map((s) => [s, true])) as IdentityCheck['steps'];
  const check = (extra: Partial<IdentityCheck>): IdentityCheck => ({ documentType: 'passport', documentNumber: 'AB1234567', documentExpiresOn: '2030-01-01', steps: allDone, ...extra });
  it('records every step for a passport, and the police step as not applicable for a driving licence', () => {
    assert.deepEqual(checkIdentityCheck(check({}), now), allDone);
    const steps = checkIdentityCheck(check({ documentType: 'driving-licence', steps: { ...allDone, 'police-register': false } }), now);
    assert.equal(steps['police-register'], 'not-applicable');
  });
  it('refuses a missing step, an expired or unknown document', () => {
    for (const step of SEVEN_STEPS) assert.throws(() => checkIdentityCheck(check({ steps: { ...allDone, [step]: false } }), now), refusedWith(new RegExp(`step not done: ${step}`)));
    assert.throws(() => checkIdentityCheck(check({ documentExpiresOn: '2026-06-14' }), now), refusedWith(/expired/));
    assert.doesNotThrow(() => checkIdentityCheck(check({ documentExpiresOn: '2026-06-15' }), now));
    assert.throws(() => checkIdentityCheck(check({ documentType: 'library-card' as never }), now), refusedWith(/document type must be one of/));
    assert.throws(() => checkIdentityCheck(check({ documentNumber: '<script>' }), now), refusedWith(/document number/));
    assert.throws(() => checkIdentityCheck(check({ documentExpiresOn: '2030-02-31x' }), now), refusedWith(/expiry date/));
  });
});
