import { PortalRefused } from '../errors.ts';

export type PhotoType = 'image/jpeg' | 'image/png';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * The photo's type from its first bytes, never from a name or a header the
 * sender chose: JPEG (SOI then a marker) or PNG (signature then IHDR).
 */
export function sniffPhoto(bytes: Uint8Array, maxBytes: number): PhotoType {
  if (bytes.length === 0) throw new PortalRefused('invalid', 'the photo is empty');
  if (bytes.length > maxBytes) throw new PortalRefused('invalid', `the photo is ${bytes.length} bytes; at most ${maxBytes} are accepted`);
  if (bytes.length > 4 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  if (bytes.length > 16 && PNG_SIGNATURE.every((b, i) => bytes[i] === b) && String.fromCharCode(...bytes.subarray(12, 16)) === 'IHDR') return 'image/png';
  throw new PortalRefused('invalid', 'the photo is not a JPEG or PNG image');
}
