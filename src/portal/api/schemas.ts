import { z } from 'zod';
import { CARD_KINDS } from '../cards/eligibility.ts';
import { DOCUMENT_TYPES, SEVEN_STEPS } from '../cards/identity-check.ts';
import { REVOCATION_CAUSES, REVOCATION_CHANNELS } from '../cards/revocation.ts';
import { ROLES } from '../roles.ts';

/** The only place API input is parsed; the OpenAPI document is generated from these. */

const hsaId = z.string().regex(/^SE\d+-[A-Z0-9]+$/, 'an HSA-id like SE2321000016-ABC1').max(31);
const personnummer = z.string().regex(/^\d{12}$/, 'a personnummer or samordningsnummer in 12 digits');
const instant = z.iso.datetime({ offset: true }).describe('an ISO 8601 time with zone, e.g. 2026-05-01T08:30:00+02:00');
const day = z.iso.date().describe('a date, YYYY-MM-DD');

export const idParams = z.strictObject({ id: z.coerce.number().int().positive().describe('card (order) id or assignment id') });
export const personParams = z.strictObject({ personnummer });

export const personSearchQuery = z.strictObject({
  q: z.string().trim().min(2).max(100).describe('personnummer (12 digits), HSA-id, or words of the name'),
});

export const orderBody = z.strictObject({
  kind: z.enum(CARD_KINDS),
  loa: z.union([z.literal(2), z.literal(3)]).nullable().describe('3 for ordinary cards; 2 or 3 for reserve cards; null for test cards'),
  holder: hsaId.describe("the service identity (HSA-id) the card names"),
  photo: z.base64().max(30_000_000).nullable().default(null).describe('ordinary cards: JPEG or PNG, base64'),
  office: hsaId.nullable().default(null).describe("reserve cards: the office (unit HSA-id) whose stock the card comes from"),
});

export const stockBody = z.strictObject({
  organisation: hsaId,
  office: hsaId,
  kind: z.enum(['received', 'discarded']),
  count: z.number().int().min(1).max(10_000),
});
export const stockQuery = z.strictObject({ organisation: hsaId, office: hsaId });

export const batchBody = z.strictObject({ organisation: hsaId });
export const returnBody = z.strictObject({ content: z.string().min(1).max(20 * 1024 * 1024).describe("the manufacturer's return file (JSON lines)") });

export const handOutBody = z.strictObject({
  cardNumber: z.string().regex(/^[0-9A-Z]{8,24}$/),
  personnummer: personnummer.describe('read off the ID document of the person collecting the card'),
  check: z.strictObject({
    documentType: z.enum(DOCUMENT_TYPES),
    documentNumber: z.string().min(4).max(30),
    documentExpiresOn: day,
    steps: z.strictObject(Object.fromEntries(SEVEN_STEPS.map((s) => [s, z.boolean()])) as Record<(typeof SEVEN_STEPS)[number], z.ZodBoolean>),
  }),
});

export const revocationBody = z.strictObject({
  serials: z.array(z.string().regex(/^[0-9a-fA-F]{1,40}$/)).max(10).default([]).describe("the card's certificates to revoke; all when empty"),
  reportedBy: z.string().trim().min(1).max(200),
  channel: z.enum(REVOCATION_CHANNELS),
  receivedAt: instant.describe('when the request was received; earlier than now when registered after an outage'),
  cause: z.enum(Object.keys(REVOCATION_CAUSES) as [keyof typeof REVOCATION_CAUSES, ...(keyof typeof REVOCATION_CAUSES)[]]),
  note: z.string().max(2000).nullable().default(null),
});

export const roleBody = z.strictObject({
  holder: hsaId,
  role: z.enum(ROLES),
  organisation: hsaId,
  unit: hsaId.nullable().default(null),
  trainedOn: day.nullable().default(null),
});
export const rolesQuery = z.strictObject({ organisation: hsaId });

export const unlockBody = z.strictObject({
  orderRef: z.string().min(1).max(100).describe("the holder's approved mobile eID login (from POST /cards/{id}/unlock/login)"),
  challenge: z.string().min(1).max(200).describe("the card's unlock challenge, base64"),
});
