import { z } from 'zod';

const seconds = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** `oob`: the out-of-band orders the eID app answers, and mobile eID enrolment. */
export const oobConfigSchema = z.strictObject({
  /** How long an order lives (BankID: 3 minutes). */
  orderTtlSeconds: seconds(10, 3_600).default(180),
  /** After this long with no app, a pending order's hint is noClient instead of outstandingTransaction. */
  noClientAfterSeconds: seconds(1, 3_600).default(30),
  /** How old a scanned QR code may be. */
  qrMaxAgeSeconds: seconds(1, 60).default(3),
  /** Orders one caller may start per minute (more get 429 tooManyRequests). */
  maxOrdersPerMinute: z.coerce.number().int().min(1).default(6_000),
  /** How long an enrolment code is valid; at most 15 minutes. */
  enrolmentCodeMinutes: seconds(1, 15).default(15),
});

export type OobConfig = z.infer<typeof oobConfigSchema>;
