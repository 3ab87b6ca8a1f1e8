import { generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { AnswerVerifier, Challenge } from '../../authn/index.ts';
import { authnRoutes, createOrderService } from '../../authn/index.ts';
import type { PartContext, PartFactory } from '../../server/index.ts';
import type { Queryable } from '../../store/index.ts';

/** A free loopback port, so the issuer URL can name it before the server starts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** An eID holder: a real key pair whose signatures the stand-in verifier checks. */
export function eidHolder(person: { personalIdentityNumber: string; givenName: string; surname: string }, loa = 3) {
  const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificatePem = `test-certificate-of-${person.personalIdentityNumber}-${randomUUID()}`;
  return {
    person,
    certificatePem,
    loa,
    answer: (challenge: Challenge) => ({ signature: sign('sha256', Buffer.from(challenge.toSign, 'base64'), keys.privateKey).toString('base64'), certificate: certificatePem }),
    verify: (challenge: Uint8Array, signature: string) => verify('sha256', challenge, keys.publicKey, Buffer.from(signature, 'base64')),
  };
}
export type EidHolder = ReturnType<typeof eidHolder>;

/** Stands in for the PKI's certificate checks: the signature must verify with the holder's key. */
export function holdersVerifier(holders: readonly EidHolder[]): AnswerVerifier {
  return async ({ challenge, answer, requirements }) => {
    const holder = holders.find((h) => h.certificatePem === answer.certificatePem);
    if (!holder || !holder.verify(challenge, answer.signature)) return { ok: false, hint: 'certificateErr', reason: 'signature does not verify' };
    if (requirements.personalIdentityNumber && requirements.personalIdentityNumber !== holder.person.personalIdentityNumber) return { ok: false, hint: 'certificateErr', reason: 'not the required person' };
    if (requirements.minimumLoa && holder.loa < requirements.minimumLoa) return { ok: false, hint: 'certificateErr', reason: 'LoA too low' };
    return { ok: true, completion: { user: holder.person, certificatePem: holder.certificatePem, signature: answer.signature, loa: holder.loa, revocationEvidence: null } };
  };
}

/** The authentication service's app API (/app/v1) for tests, with the stand-in verifier; hands out the context it was given. */
export function testAuthnPart(verifyAnswer: AnswerVerifier, onContext: (context: PartContext) => void): PartFactory {
  return async (context) => {
    onContext(context);
    const orders = createOrderService({ store: context.ephemeral, verifyAnswer });
    return { name: 'authn', title: { sv: 'Autentisering', en: 'Authentication' }, description: { sv: '', en: '' }, links: [], https: authnRoutes({ db: context.db, orders }) };
  };
}

/** `fetch` that trusts exactly one CA (the test server's self-signed certificate). */
export function fetchTrusting(ca: string): (url: string, init: { method?: string; headers?: HeadersInit; body?: unknown }) => Promise<Response> {
  return (url, init) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => (headers[name] = value));
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers, ca, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
          const status = res.statusCode ?? 500;
          resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers: responseHeaders }));
        });
      });
      req.on('error', reject);
      req.end(init.body === undefined || init.body === null ? undefined : init.body instanceof Uint8Array ? init.body : Buffer.from(String(init.body)));
    });
}

/** Persons with current commissions and their commissions' HSA-ids, most commissions first, then by personnummer. */
export function personsWithCommissions(db: Queryable): Promise<{ personnummer: string; commissions: string[] }[]> {
  return db.query(
    `select p.personnummer, array_agg(c.hsa_id order by c.hsa_id) as commissions
       from directory_person p join directory_service_identity s on s.person_id = p.id and s.valid_to is null
       join directory_commission c on c.service_identity_hsa_id = s.hsa_id and c.valid_to is null
      group by p.personnummer order by count(*) desc, p.personnummer`,
  );
}
