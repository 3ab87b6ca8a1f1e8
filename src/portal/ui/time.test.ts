import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortalRefused } from '../errors.ts';
import { swedishLocalTime } from './routes.ts';

describe('Swedish wall-clock time from a datetime-local field', () => {
  it('applies CET in winter and CEST in summer, with or without seconds', () => {
    assert.equal(swedishLocalTime('2026-01-23T12:00').toISOString(), '2026-01-23T11:00:00.000Z');
    assert.equal(swedishLocalTime('2026-07-01T08:30:15').toISOString(), '2026-07-01T06:30:15.000Z');
    assert.equal(swedishLocalTime('2026-03-29T03:30').toISOString(), '2026-03-29T01:30:00.000Z', 'just after the spring change');
    assert.equal(swedishLocalTime('2026-10-25T01:30').toISOString(), '2026-10-24T23:30:00.000Z');
  });
  it('refuses anything else', () => {
    for (const bad of ['', '2026-01-23', '23/01/2026 12:00', '2026-01-23T12:00Z']) assert.throws(() => swedishLocalTime(bad), (e) => e instanceof PortalRefused && e.kind === 'invalid');
  });
});
