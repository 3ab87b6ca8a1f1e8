import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdentifierError } from './errors.ts';
import { daysInMonth, isPersonnummer, parsePersonnummer, withPersonnummerCheckDigit } from './personnummer.ts';

const TODAY = new Date('2026-11-23T12:00:00Z');

function refusedBy(input: string, rule: string, today = TODAY): void {
  assert.throws(
    () => parsePersonnummer(input, today),
    (error: unknown) => error instanceof IdentifierError && error.kind === 'personnummer' && error.rule === rule,
    `${input} should be refused by rule ${rule}`,
  );
}

describe('personnummer', () => {
  it("accepts Skatteverket's test person Tolvan Tolvansson, with and without hyphen", () => {
    assert.deepEqual(parsePersonnummer('191212121212', TODAY), { value: '191212121212', kind: 'personnummer', birthDate: '1912-12-12' });
    assert.equal(parsePersonnummer('19121212-1212', TODAY).value, '191212121212');
  });

  it("accepts Skatteverket's example samordningsnummer (day + 60) and gives the real date", () => {
    const parsed = parsePersonnummer('197010632391', TODAY);
    assert.equal(parsed.kind, 'samordningsnummer');
    assert.equal(parsed.birthDate, '1970-10-03');
  });

  it('refuses the wrong shape', () => {
    for (const input of ['', '1212121212', '12121212-1212x', '19121212--1212', '1912121212123', '19121212+1212', 'abcdefghijkl', '１９１２１２１２１２１２']) refusedBy(input, 'format');
  });

  it('refuses every wrong check digit and accepts only the Luhn one', () => {
    const good = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((d) => isPersonnummer(`19121212121${d}`, TODAY));
    assert.deepEqual(good, [2]);
    refusedBy('191212121213', 'checksum');
  });

  it('refuses months and days that do not exist', () => {
    refusedBy(withPersonnummerCheckDigit('19121312123'), 'date');
    refusedBy(withPersonnummerCheckDigit('19120012123'), 'date');
    refusedBy(withPersonnummerCheckDigit('19120100123'), 'date');
    refusedBy(withPersonnummerCheckDigit('19120431123'), 'date');
    refusedBy(withPersonnummerCheckDigit('19120132123'), 'date');
  });

  it('knows leap years: 29 February only in leap years, centuries only when divisible by 400', () => {
    assert.ok(isPersonnummer(withPersonnummerCheckDigit('20000229123'), TODAY), '2000 is a leap year');
    assert.ok(isPersonnummer(withPersonnummerCheckDigit('19960229123'), TODAY));
    refusedBy(withPersonnummerCheckDigit('19000229123'), 'date');
    refusedBy(withPersonnummerCheckDigit('20230229123'), 'date');
    refusedBy(withPersonnummerCheckDigit('20240230123'), 'date');
    assert.equal(daysInMonth(2100, 2), 28);
  });

  it('checks the real day of a samordningsnummer, leap years included', () => {
    assert.equal(parsePersonnummer(withPersonnummerCheckDigit('20000289123'), TODAY).birthDate, '2000-02-29');
    assert.equal(parsePersonnummer(withPersonnummerCheckDigit('19800161123'), TODAY).birthDate, '1980-01-01');
    assert.equal(parsePersonnummer(withPersonnummerCheckDigit('19800191123'), TODAY).birthDate, '1980-01-31');
    refusedBy(withPersonnummerCheckDigit('19990289123'), 'coordination-day');
    refusedBy(withPersonnummerCheckDigit('19800192123'), 'coordination-day');
    refusedBy(withPersonnummerCheckDigit('19800491123'), 'coordination-day');
  });

  it('refuses day 60 and the days between a month end and 61', () => {
    refusedBy(withPersonnummerCheckDigit('19800160123'), 'date');
    refusedBy(withPersonnummerCheckDigit('19800145123'), 'date');
  });

  it('refuses births in the future and implausibly long ago', () => {
    assert.ok(isPersonnummer(withPersonnummerCheckDigit('20261123123'), TODAY), 'born today');
    refusedBy(withPersonnummerCheckDigit('20261124123'), 'date');
    refusedBy(withPersonnummerCheckDigit('18491231123'), 'date');
  });

  it('refuses the birth number 000', () => {
    refusedBy(withPersonnummerCheckDigit('19121212000'), 'serial');
  });

  it('says which rule failed in the message, so a sync report is readable', () => {
    assert.throws(() => parsePersonnummer('191212121213', TODAY), /personnummer refused \(checksum\): the check digit is 3, the Luhn rule gives 2/);
  });
});
