import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IdentifierError } from './errors.ts';
import { isHsaId, parseHsaId } from './hsa-id.ts';

const refusedBy = (input: string, rule: string) =>
  assert.throws(() => parseHsaId(input), (e: unknown) => e instanceof IdentifierError && e.kind === 'HSA-id' && e.rule === rule, `${input}: ${rule}`);

describe('HSA-id', () => {
  it('accepts SE + organisation number + - + suffix and splits it', () => {
    assert.deepEqual(parseHsaId('SE2321000016-1A2B'), { value: 'SE2321000016-1A2B', organisationNumber: '2321000016', suffix: '1A2B' });
    assert.ok(isHsaId('SE5565594230-B31'));
  });

  it('refuses a missing or lower-case country code', () => {
    refusedBy('2321000016-1A2B', 'prefix');
    refusedBy('se2321000016-1A2B', 'prefix');
    refusedBy('DK2321000016-1A2B', 'prefix');
  });

  it('refuses a missing separator', () => {
    refusedBy('SE23210000161A2B', 'separator');
    refusedBy('SE2321000016_1A2B', 'separator');
  });

  it('refuses an organisation number that breaks its own rules, naming that rule', () => {
    refusedBy('SE2321000017-1A2B', 'organisation-number/checksum');
    refusedBy('SE232100001-1A2B', 'organisation-number/format');
    refusedBy(`SE5512121230-1`, 'organisation-number/third-digit');
  });

  it('refuses an empty or malformed suffix', () => {
    refusedBy('SE2321000016-', 'suffix');
    refusedBy('SE2321000016-1a2b', 'suffix');
    refusedBy('SE2321000016-1A 2B', 'suffix');
    refusedBy('SE2321000016-1A-2B', 'suffix');
    refusedBy('SE2321000016-ÅÄÖ', 'suffix');
  });

  it('refuses more than 31 characters and accepts exactly 31', () => {
    assert.ok(isHsaId(`SE2321000016-${'A'.repeat(18)}`));
    refusedBy(`SE2321000016-${'A'.repeat(19)}`, 'length');
  });
});
