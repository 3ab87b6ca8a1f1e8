import { IdentifierError } from './errors.ts';
import { luhnCheckDigit } from './luhn.ts';

const SHAPE = /^(\d{6})-?(\d{4})$/;
/** Legal entities have 20 or more in the "month" digits, so they never collide with a personnummer. */
const MIN_THIRD_DIGIT = 2;

const refuse = (rule: string, detail: string) => new IdentifierError('organisation number', rule, detail);

/**
 * Parses a Swedish organisation number (`NNNNNNNNNC`, a hyphen after the
 * sixth digit is allowed) and returns its 10 digits.
 */
export function parseOrganisationNumber(input: string): string {
  const match = SHAPE.exec(input.trim());
  if (!match) throw refuse('format', 'expected 10 digits, NNNNNN-NNNC');
  const digits = match[1]! + match[2]!;
  if (Number(digits[2]) < MIN_THIRD_DIGIT) throw refuse('third-digit', `the third digit is ${digits[2]}; a legal entity's is ${MIN_THIRD_DIGIT} or more`);
  const expected = luhnCheckDigit(digits.slice(0, 9));
  if (Number(digits[9]) !== expected) throw refuse('checksum', `the check digit is ${digits[9]}, the Luhn rule gives ${expected}`);
  return digits;
}

export function isOrganisationNumber(input: string): boolean {
  try {
    parseOrganisationNumber(input);
    return true;
  } catch {
    return false;
  }
}

/** Appends the Luhn check digit to the first 9 digits (used by the generator and tests). */
export function withOrganisationCheckDigit(first9: string): string {
  return first9 + luhnCheckDigit(first9);
}
