import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdentifierError } from './errors.ts';
import { isOrganisationNumber, parseOrganisationNumber, withOrganisationCheckDigit } from './organisation-number.ts';

const refusedBy = (input: string, rule: string) =>
  assert.throws(() => parseOrganisationNumber(input), (e: unknown) => e instanceof IdentifierError && e.kind === 'organisation number' && e.rule === rule, `${input}: ${rule}`);

describe('organisation number', () => {
  it('accepts real regions and agencies, with and without hyphen', () => {
    assert.equal(parseOrganisationNumber('2321000016'), '2321000016'); // Region Stockholm
    assert.equal(parseOrganisationNumber('232100-0016'), '2321000016');
    assert.equal(parseOrganisationNumber('5565594230'), '5565594230'); // Inera AB
    assert.equal(parseOrganisationNumber('2021005489'), '2021005489'); // Skatteverket
  });

  it('refuses the wrong shape', () => {
    for (const input of ['', '232100001', '23210000166', '2321-000016', 'SE2321000016', '23210OOO16']) refusedBy(input, 'format');
  });

  it('accepts only the Luhn check digit', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((d) => isOrganisationNumber(`232100001${d}`)), [6]);
    refusedBy('2321000017', 'checksum');
  });

  it('refuses a third digit below 2, which would read as a personal month', () => {
    refusedBy(withOrganisationCheckDigit('551212123'), 'third-digit');
    refusedBy(withOrganisationCheckDigit('550012123'), 'third-digit');
    assert.ok(isOrganisationNumber(withOrganisationCheckDigit('552012123')));
  });
});
