import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeEntry } from './crl.ts';
import { derEnumerated, derGeneralizedTime, derInteger, derOctetString, derSequence, derTime } from './der.ts';
import { encodeOid } from './keys.ts';
import { REVOCATION_REASONS, type RevocationReason } from './revoke.ts';

/** The same entry built from the general DER helpers: the fast writer must match it byte for byte. */
function reference(serial: string, revokedAt: Date, reason: RevocationReason | null, invalidityDate: Date | null): Uint8Array {
  const extensions: Uint8Array[] = [];
  if (reason && reason !== 'unspecified') extensions.push(derSequence([encodeOid('2.5.29.21'), derOctetString(derEnumerated(REVOCATION_REASONS[reason]))]));
  if (invalidityDate) extensions.push(derSequence([encodeOid('2.5.29.24'), derOctetString(derGeneralizedTime(invalidityDate))]));
  const parts = [derInteger(Buffer.from(serial.length % 2 ? `0${serial}` : serial, 'hex')), derTime(revokedAt)];
  if (extensions.length) parts.push(derSequence(extensions));
  return derSequence(parts);
}

describe('CRL entry writer', () => {
  it('matches the general DER encoding for every shape of entry', () => {
    const dates = [new Date('2026-11-23T05:06:07Z'), new Date('2049-12-31T23:59:59Z'), new Date('2050-01-01T00:00:00Z'), new Date('2001-02-03T04:05:06Z')];
    const serials = ['1', 'ff', '7f', '80', 'abc', '7000000000000000000000000000001f', 'f'.repeat(40), '0123'];
    const reasons: (RevocationReason | null)[] = [null, 'unspecified', 'keyCompromise', 'certificateHold', 'aACompromise'];
    for (const serial of serials) {
      for (const date of dates) {
        for (const reason of reasons) {
          for (const invalidity of [null, dates[3]!]) {
            const normalised = serial.replace(/^0+(?=.)/, '');
            assert.deepEqual(encodeEntry({ serial: normalised, revokedAt: date, reason, invalidityDate: invalidity }), reference(normalised, date, reason, invalidity), `${serial} ${date.toISOString()} ${reason} ${invalidity}`);
          }
        }
      }
    }
  });
});
