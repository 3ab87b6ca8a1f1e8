import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { certificatePolicyOids } from './policies.ts';

describe('certificate policy OIDs', () => {
  it('reads wide 2.25 UUID arcs exactly, and ordinary ones', () => {
    const oids = ['2.25.198158283514957040623735785113620367431.1.4', '1.2.752.29.6.2.1', '2.5.29.32.0'];
    const extension = new x509.CertificatePolicyExtension(oids);
    assert.deepEqual(certificatePolicyOids(new Uint8Array(extension.value)), oids);
  });

  it('refuses malformed bytes', () => {
    for (const bad of [Uint8Array.of(), Uint8Array.of(0x31, 0x00), Uint8Array.of(0x30, 0x05, 0x30, 0x03, 0x06)]) assert.throws(() => certificatePolicyOids(bad), /malformed/);
  });
});
