import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { isCaId } from './hierarchy.ts';
import type { OcspAnswer } from './ocsp.ts';
import type { Pki } from './service.ts';

const MAX_OCSP_REQUEST = 16_384;

/** `/crl/<ca>.crl`, `/ca/<ca>.crt` and `/ocsp`: what relying parties fetch over plain HTTP. */
export function pkiHttpRoutes(pki: Pki): FastifyPluginAsync {
  return async (app) => {
    app.addContentTypeParser('application/ocsp-request', { parseAs: 'buffer', bodyLimit: MAX_OCSP_REQUEST }, (_request, body, done) => done(null, body));

    app.get<{ Params: { file: string } }>('/crl/:file', async (request, reply) => {
      const caId = request.params.file.replace(/\.crl$/, '');
      if (!request.params.file.endsWith('.crl') || !isCaId(caId)) return reply.code(404).send({ error: 'not_found', message: 'no such CRL' });
      const crl = await pki.currentCrl(caId);
      const lastModified = crl.thisUpdate.toUTCString();
      reply.header('etag', crl.etag).header('last-modified', lastModified);
      if (request.headers['if-none-match'] === crl.etag || request.headers['if-modified-since'] === lastModified) return reply.code(304).send();
      // Caches may keep it until shortly before the next scheduled update; a revocation publishes a new one at once.
      const maxAge = Math.max(0, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000 / 4));
      return reply.type('application/pkix-crl').header('cache-control', `public, max-age=${Math.min(maxAge, 300)}`).send(Buffer.from(crl.der));
    });

    app.get<{ Params: { file: string } }>('/ca/:file', async (request, reply) => {
      const caId = request.params.file.replace(/\.crt$/, '');
      const ca = request.params.file.endsWith('.crt') && isCaId(caId) ? pki.caCertificate(caId) : undefined;
      if (!ca) return reply.code(404).send({ error: 'not_found', message: 'no such CA certificate' });
      return reply.type('application/pkix-cert').header('cache-control', 'public, max-age=86400').send(Buffer.from(ca.der));
    });

    app.post('/ocsp', async (request, reply) => {
      if (request.headers['content-type'] !== 'application/ocsp-request' || !Buffer.isBuffer(request.body)) {
        return sendOcsp(reply, await pki.ocsp.respond(new Uint8Array()), false);
      }
      return sendOcsp(reply, await pki.ocsp.respond(new Uint8Array(request.body)), false);
    });

    // RFC 5019: the request DER, base64 and then URL-encoded, as the last path segment.
    app.get<{ Params: { '*': string } }>('/ocsp/*', async (request, reply) => {
      let der: Uint8Array;
      try {
        der = new Uint8Array(Buffer.from(decodeURIComponent(request.params['*']), 'base64'));
      } catch {
        der = new Uint8Array();
      }
      return sendOcsp(reply, await pki.ocsp.respond(der), true);
    });
  };
}

function sendOcsp(reply: FastifyReply, answer: OcspAnswer, cacheable: boolean) {
  reply.type('application/ocsp-response');
  if (cacheable && answer.thisUpdate && answer.nextUpdate) {
    const maxAge = Math.max(0, Math.floor((answer.nextUpdate.getTime() - Date.now()) / 1000));
    reply.header('cache-control', `public, max-age=${maxAge}, no-transform, must-revalidate`).header('last-modified', answer.thisUpdate.toUTCString()).header('expires', answer.nextUpdate.toUTCString());
  } else {
    reply.header('cache-control', 'no-store');
  }
  return reply.send(Buffer.from(answer.der));
}
