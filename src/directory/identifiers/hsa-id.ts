import { IdentifierError } from './errors.ts';
import { parseOrganisationNumber } from './organisation-number.ts';

export interface HsaId {
  readonly value: string;
  /** The issuing organisation's 10-digit organisation number. */
  readonly organisationNumber: string;
  readonly suffix: string;
}

/** HSA-ids are at most 31 characters (the catalogue's attribute length). */
export const HSA_ID_MAX_LENGTH = 31;
const SHAPE = /^SE(\d+)-(.*)$/;
const SUFFIX = /^[A-Z0-9]+$/;

const refuse = (rule: string, detail: string) => new IdentifierError('HSA-id', rule, detail);

/**
 * Parses an HSA-id: `SE`, the issuing organisation's number, `-`, a suffix of
 * capital letters and digits. HSA-ids are compared exactly, so nothing is
 * upper-cased or trimmed for the caller.
 */
export function parseHsaId(input: string): HsaId {
  if (input.length > HSA_ID_MAX_LENGTH) throw refuse('length', `${input.length} characters, at most ${HSA_ID_MAX_LENGTH} are allowed`);
  if (!input.startsWith('SE')) throw refuse('prefix', 'must start with the country code SE');
  const match = SHAPE.exec(input);
  if (!match) throw refuse('separator', "expected SE, the organisation number, '-' and a suffix");
  const [, digits, suffix] = match as unknown as [string, string, string];
  let organisationNumber: string;
  try {
    organisationNumber = parseOrganisationNumber(digits);
  } catch (error) {
    const rule = error instanceof IdentifierError ? error.rule : 'format';
    throw refuse(`organisation-number/${rule}`, `the organisation number ${digits} is not valid: ${(error as Error).message}`);
  }
  if (suffix === '') throw refuse('suffix', "the suffix after '-' is empty");
  if (!SUFFIX.test(suffix)) throw refuse('suffix', 'the suffix may hold only capital letters A–Z and digits');
  return { value: input, organisationNumber, suffix };
}

export function isHsaId(input: string): boolean {
  try {
    parseHsaId(input);
    return true;
  } catch {
    return false;
  }
}
