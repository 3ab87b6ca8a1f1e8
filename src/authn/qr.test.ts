import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { checkQr, parseQr, qrAuthCode, qrContent } from './qr.ts';

const token = '67df3917-fa0d-44e5-b327-edcc928297f8';
const secret = 'd28db9a7-4cde-429e-a983-359be676944c';

describe('animated QR code', () => {
  it('computes the BankID-style auth code: hex HMAC-SHA256 of the decimal seconds', () => {
    // Independent computation of the same rule, for seconds 0 and 1.
    assert.equal(qrAuthCode(secret, 0), createHmac('sha256', Buffer.from(secret, 'utf8')).update('0', 'utf8').digest('hex'));
    assert.equal(qrContent(token, secret, 1), `tillit.${token}.1.${createHmac('sha256', secret).update('1').digest('hex')}`);
    assert.notEqual(qrAuthCode(secret, 1), qrAuthCode(secret, 2));
  });

  it('parses only the exact format', () => {
    const content = qrContent(token, secret, 7);
    assert.deepEqual(parseQr(content), { qrStartToken: token, seconds: 7, authCode: qrAuthCode(secret, 7) });
    for (const bad of [
      '',
      content.replace('tillit.', 'bankid.'),
      `${content}.`,
      content.toUpperCase(),
      `tillit.${token}.07.${qrAuthCode(secret, 7)}`,
      `tillit.${token}.-1.${qrAuthCode(secret, 7)}`,
      `tillit.${token}.1234567.${qrAuthCode(secret, 7)}`,
      `tillit.not-a-token.7.${qrAuthCode(secret, 7)}`,
      `tillit.${token}.7.${qrAuthCode(secret, 7).slice(2)}`,
    ]) {
      assert.equal(parseQr(bad), undefined, bad);
    }
  });

  it('accepts a fresh code and refuses stale, future and forged ones', () => {
    const at = (seconds: number) => parseQr(qrContent(token, secret, seconds))!;
    assert.deepEqual(checkQr(at(10), secret, 10, 3), { ok: true });
    assert.deepEqual(checkQr(at(7), secret, 10, 3), { ok: true });
    assert.deepEqual(checkQr(at(6), secret, 10, 3), { ok: false, reason: 'stale' });
    assert.deepEqual(checkQr(at(11), secret, 10, 3), { ok: true }, 'one second of clock skew is tolerated');
    assert.deepEqual(checkQr(at(12), secret, 10, 3), { ok: false, reason: 'future' });
    assert.deepEqual(checkQr(at(10), 'another-secret', 10, 3), { ok: false, reason: 'forged' });
    const tampered = { ...at(10), seconds: 9 };
    assert.deepEqual(checkQr(tampered, secret, 10, 3), { ok: false, reason: 'forged' });
  });
});
