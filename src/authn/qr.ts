import { createHmac, timingSafeEqual } from 'node:crypto';

/** What the animated QR code shows: `tillit.<qrStartToken>.<seconds>.<hex HMAC-SHA256(qrStartSecret, seconds)>`. */
export const QR_PREFIX = 'tillit';

export function qrAuthCode(qrStartSecret: string, seconds: number): string {
  return createHmac('sha256', qrStartSecret).update(String(seconds)).digest('hex');
}

/** The content for the code shown `seconds` whole seconds after the order started. */
export function qrContent(qrStartToken: string, qrStartSecret: string, seconds: number): string {
  return `${QR_PREFIX}.${qrStartToken}.${seconds}.${qrAuthCode(qrStartSecret, seconds)}`;
}

export interface ParsedQr {
  readonly qrStartToken: string;
  readonly seconds: number;
  readonly authCode: string;
}

const QR_PATTERN = /^tillit\.([0-9a-f-]{36})\.(0|[1-9]\d{0,5})\.([0-9a-f]{64})$/;

/** Splits scanned content; undefined for anything that is not exactly our format. */
export function parseQr(content: string): ParsedQr | undefined {
  const match = QR_PATTERN.exec(content);
  if (!match) return undefined;
  return { qrStartToken: match[1]!, seconds: Number(match[2]), authCode: match[3]! };
}

export type QrCheck = { readonly ok: true } | { readonly ok: false; readonly reason: 'forged' | 'stale' | 'future' };

/**
 * Checks a scanned code against the order's secret: the HMAC must match (in
 * constant time) and the code must have been on screen within the last
 * `maxAgeSeconds`, so a photo of the screen is useless a moment later.
 */
export function checkQr(parsed: ParsedQr, qrStartSecret: string, elapsedSeconds: number, maxAgeSeconds: number): QrCheck {
  const expected = Buffer.from(qrAuthCode(qrStartSecret, parsed.seconds), 'hex');
  const given = Buffer.from(parsed.authCode, 'hex');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: 'forged' };
  if (parsed.seconds > elapsedSeconds + 1) return { ok: false, reason: 'future' };
  if (elapsedSeconds - parsed.seconds > maxAgeSeconds) return { ok: false, reason: 'stale' };
  return { ok: true };
}
