import { generateKeyPairSync, sign } from 'node:crypto';
import { successResponse } from './src/idp/saml/response.ts';
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072 });
const key = { use: 'signing', privateKey, privateKeyPem: '', certificatePem: '', certificateBase64: 'MII' + 'A'.repeat(1400) } as never;
const idp = { entityId: 'https://idp.example/saml', keys: { signing: key, encryption: key }, signatureAlgorithm: 'rsa-sha256' as const };
const to = (signAssertion: boolean) => ({ spEntityId: 'https://sp.example/sp', acsUrl: 'https://sp.example/acs', inResponseTo: '_abc', signAssertion, encryptionCertificates: [], attributeProfile: 'sambi' as const });
const content = { nameId: { format: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient', value: '_x' }, authnInstant: new Date(), sessionIndex: '_s', loaUri: 'http://id.sambi.se/loa/loa3', authnMethod: 'oob-other', attributes: { name: 'Åsa Öberg', personalIdentityNumber: '191212121212' } };
async function time(label: string, f: () => unknown, n = 300) {
  for (let i = 0; i < 30; i++) await f();
  const c = process.cpuUsage();
  for (let i = 0; i < n; i++) await f();
  const u = process.cpuUsage(c);
  console.log(label, ((u.user + u.system) / 1000 / n).toFixed(3), 'ms');
}
await time('rsa sign', () => sign('sha256', Buffer.from('x'.repeat(600)), privateKey));
await time('successResponse 2 sig', () => successResponse(idp, to(true), content, new Date(), 300000));
await time('successResponse 1 sig', () => successResponse(idp, to(false), content, new Date(), 300000));
