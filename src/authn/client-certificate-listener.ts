import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

export interface ClientCertificateListenerOptions {
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  /** The server's certificate (with its chain, no root) and key. */
  readonly cert: string;
  readonly key: string;
  /**
   * CAs named in the TLS CertificateRequest, so browsers offer the person
   * certificates from these first. Nothing is decided on them: every
   * certificate, trusted or not, reaches the application's checks.
   */
  readonly acceptableCas: readonly string[];
  readonly routes: FastifyPluginAsync;
}

export interface ClientCertificateListener {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * An HTTPS listener that asks for (never requires) a client certificate and
 * lets the handshake finish whatever arrives: the TLS layer proves the key
 * (CertificateVerify), the application judges the certificate, so a wrong
 * one gets advice instead of a browser's bare TLS error.
 */
export async function openClientCertificateListener(options: ClientCertificateListenerOptions): Promise<ClientCertificateListener> {
  const app = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    https: { cert: options.cert, key: options.key, ca: [...options.acceptableCas], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    bodyLimit: 1_048_576,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').header('x-content-type-options', 'nosniff').header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  await app.register(options.routes);
  await app.listen({ host: options.host, port: options.port });
  return {
    port: (app.server.address() as AddressInfo).port,
    close: () => app.close(),
  };
}

/** The client certificate of this request's TLS connection as PEM, or undefined when none was sent. */
export function peerCertificatePem(request: FastifyRequest): string | undefined {
  const socket = request.raw.socket as TLSSocket;
  const certificate = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
  return certificate?.toString();
}
