import { IdentifierError, parsePersonnummer } from '../../directory/index.ts';
import { PortalRefused } from '../errors.ts';

export const CARD_KINDS = ['ordinary', 'reserve', 'test'] as const;
export type CardKind = (typeof CARD_KINDS)[number];
export type Loa = 2 | 3;

export interface EligibilityInput {
  readonly kind: CardKind;
  /** null for test cards. */
  readonly loa: Loa | null;
  readonly personnummer: string;
  readonly deceased: boolean;
  readonly now: Date;
}

/** Completed years between a YYYY-MM-DD birth date and `now` (UTC). */
export function ageOn(birthDate: string, now: Date): number {
  const [year, month, day] = birthDate.split('-').map(Number) as [number, number, number];
  let age = now.getUTCFullYear() - year;
  if (now.getUTCMonth() + 1 < month || (now.getUTCMonth() + 1 === month && now.getUTCDate() < day)) age--;
  return age;
}

const refuse = (message: string) => new PortalRefused('invalid', message);

function checkKindAndLoa({ kind, loa }: EligibilityInput): void {
  if (kind === 'ordinary' && loa !== 3) throw refuse('an ordinary card is LoA 3');
  if (kind === 'reserve' && loa !== 2 && loa !== 3) throw refuse('a reserve card is LoA 2 or LoA 3');
  if (kind === 'test' && loa !== null) throw refuse('a test card carries no assurance level');
}

function checkAlive({ deceased }: EligibilityInput): void {
  if (deceased) throw refuse('the population register lists the person as deceased');
}

/** LoA 3: a personnummer (not a coordination number) and 18 years; LoA 2 and test cards: 15 years, coordination numbers allowed. */
function checkIdentityAndAge({ loa, personnummer, now }: EligibilityInput): void {
  let parsed;
  try {
    parsed = parsePersonnummer(personnummer, now);
  } catch (error) {
    if (error instanceof IdentifierError) throw refuse(`the person's identity number cannot be used: ${error.message}`);
    throw error;
  }
  const age = ageOn(parsed.birthDate, now);
  if (loa === 3) {
    if (parsed.kind !== 'personnummer') throw refuse('LoA 3 needs a personnummer; a coordination number (samordningsnummer) allows LoA 2 at most');
    if (age < 18) throw refuse(`LoA 3 needs the holder to be 18 or older (the person is ${age})`);
  } else if (age < 15) {
    throw refuse(`a card needs the holder to be 15 or older (the person is ${age})`);
  }
}

/** The order-eligibility pipeline, each step one rule; the first broken rule is the refusal. */
const STEPS = [checkKindAndLoa, checkAlive, checkIdentityAndAge];

export function checkEligibility(input: EligibilityInput): void {
  for (const step of STEPS) step(input);
}
