import { randomBytes } from 'node:crypto';

/**
 * A certificate serial: 128 random bits (RFC 5280 wants at most 20 octets,
 * CA/Browser Forum at least 64 random bits), top bit cleared so it is
 * positive, and never a leading zero octet, so hex form and DER agree.
 */
export function randomSerial(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}

/** Normalises a serial given by a person: hex with or without colons, any case. Undefined when it is not one. */
export function normaliseSerial(input: string): string | undefined {
  const hex = input.trim().toLowerCase().replace(/:/g, '').replace(/^0x/, '').replace(/^(00)+(?=[0-9a-f])/, '');
  return /^[0-9a-f]{1,40}$/.test(hex) ? hex : undefined;
}
