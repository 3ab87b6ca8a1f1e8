import { IdentifierError } from './errors.ts';
import { luhnCheckDigit } from './luhn.ts';

export type PersonnummerKind = 'personnummer' | 'samordningsnummer';

export interface Personnummer {
  /** The 12 digits, YYYYMMDDNNNC, as stored everywhere. */
  readonly value: string;
  readonly kind: PersonnummerKind;
  /** The real date of birth (for a samordningsnummer: the day minus 60), as YYYY-MM-DD. */
  readonly birthDate: string;
}

/** Samordningsnummer add 60 to the day of birth (Skatteverket SKV 707). */
export const COORDINATION_DAY_OFFSET = 60;
const EARLIEST_BIRTH_YEAR = 1850;
const SHAPE = /^(\d{8})-?(\d{4})$/;

const refuse = (rule: string, detail: string) => new IdentifierError('personnummer', rule, detail);

/**
 * Parses a personnummer or samordningsnummer in its 12-digit form
 * (`YYYYMMDDNNNC`, a hyphen before the last four is allowed). The 10-digit
 * form is refused: its century is a guess. `today` (UTC) refuses births in the future.
 */
export function parsePersonnummer(input: string, today: Date = new Date()): Personnummer {
  const match = SHAPE.exec(input.trim());
  if (!match) throw refuse('format', 'expected 12 digits, YYYYMMDDNNNC (a hyphen before the last four is allowed)');
  const [, datePart, tail] = match as unknown as [string, string, string];
  const year = Number(datePart.slice(0, 4));
  const month = Number(datePart.slice(4, 6));
  const rawDay = Number(datePart.slice(6, 8));
  const kind: PersonnummerKind = rawDay > COORDINATION_DAY_OFFSET ? 'samordningsnummer' : 'personnummer';
  const day = kind === 'samordningsnummer' ? rawDay - COORDINATION_DAY_OFFSET : rawDay;
  checkDate(year, month, day, kind);
  const birthDate = `${datePart.slice(0, 4)}-${datePart.slice(4, 6)}-${String(day).padStart(2, '0')}`;
  if (year < EARLIEST_BIRTH_YEAR) throw refuse('date', `year ${year} is before ${EARLIEST_BIRTH_YEAR}`);
  if (birthDate > today.toISOString().slice(0, 10)) throw refuse('date', `date of birth ${birthDate} is in the future`);
  if (tail.slice(0, 3) === '000') throw refuse('serial', 'the birth number (digits 9–11) 000 is never issued');
  const expected = luhnCheckDigit(datePart.slice(2) + tail.slice(0, 3));
  if (Number(tail[3]) !== expected) throw refuse('checksum', `the check digit is ${tail[3]}, the Luhn rule gives ${expected}`);
  return { value: datePart + tail, kind, birthDate };
}

function checkDate(year: number, month: number, day: number, kind: PersonnummerKind): void {
  if (month < 1 || month > 12) throw refuse('date', `month ${String(month).padStart(2, '0')} does not exist`);
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) {
    const what = kind === 'samordningsnummer' ? `day ${day} (day of birth + 60)` : `day ${day}`;
    throw refuse(kind === 'samordningsnummer' ? 'coordination-day' : 'date', `${what} does not exist in ${year}-${String(month).padStart(2, '0')}, which has ${days} days`);
  }
}

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** True when `input` is a valid 12-digit personnummer or samordningsnummer. */
export function isPersonnummer(input: string, today?: Date): boolean {
  try {
    parsePersonnummer(input, today);
    return true;
  } catch {
    return false;
  }
}

/** Appends the Luhn check digit to the first 11 digits (used by the generator and tests). */
export function withPersonnummerCheckDigit(first11: string): string {
  return first11 + luhnCheckDigit(first11.slice(2));
}
