import { PortalRefused } from '../errors.ts';

/** Documents accepted for LoA 3 (domain.md §4). */
export const DOCUMENT_TYPES = ['passport', 'national-id-card', 'driving-licence', 'sis-id-card', 'tax-agency-id-card'] as const;
export type DocumentType = (typeof DOCUMENT_TYPES)[number];

/** "De sju stegen": the identity check every hand-out records, step by step. */
export const SEVEN_STEPS = [
  'document-out-of-cover',
  'person-matches-photo',
  'document-as-a-whole',
  'expiry-date',
  'security-features',
  'surface-and-photo-integrity',
  'police-register',
] as const;
export type IdentityStep = (typeof SEVEN_STEPS)[number];

/** Passports and national ID cards are checked against the police register; other documents cannot be. */
const POLICE_CHECKED: readonly DocumentType[] = ['passport', 'national-id-card'];

export interface IdentityCheck {
  readonly documentType: DocumentType;
  readonly documentNumber: string;
  /** YYYY-MM-DD */
  readonly documentExpiresOn: string;
  readonly steps: Readonly<Record<IdentityStep, boolean>>;
}

export type RecordedSteps = Record<IdentityStep, true | 'not-applicable'>;

/** Checks the recorded identity check and returns the steps as kept: each done, or not applicable. */
export function checkIdentityCheck(check: IdentityCheck, now: Date): RecordedSteps {
  if (!DOCUMENT_TYPES.includes(check.documentType)) throw new PortalRefused('invalid', `document type must be one of ${DOCUMENT_TYPES.join(', ')}`);
  if (!/^[A-Za-z0-9 -]{4,30}$/.test(check.documentNumber)) throw new PortalRefused('invalid', 'the document number is 4–30 letters and digits');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(check.documentExpiresOn) || Number.isNaN(Date.parse(`${check.documentExpiresOn}T00:00:00Z`))) throw new PortalRefused('invalid', 'the expiry date is a date like 2030-12-31');
  if (check.documentExpiresOn < now.toISOString().slice(0, 10)) throw new PortalRefused('invalid', 'the document has expired: do not hand out the card');
  const steps = {} as RecordedSteps;
  for (const step of SEVEN_STEPS) {
    if (step === 'police-register' && !POLICE_CHECKED.includes(check.documentType)) {
      steps[step] = 'not-applicable';
      continue;
    }
    if (check.steps[step] !== true) throw new PortalRefused('invalid', `identity check step not done: ${step}; do not hand out the card until every step is done`);
    steps[step] = true;
  }
  return steps;
}
