import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KeyStore } from './keystore.ts';

export interface AppServer {
  /** Base URL of the Tillit server (its HTTPS side). */
  readonly baseUrl: string;
  /** PEM of the CA (or self-signed certificate) the app trusts for that server; system CAs when absent. */
  readonly ca?: string;
}

export interface ShownChallenge {
  readonly orderRef: string;
  readonly kind: 'auth' | 'sign';
  readonly requesterName: string;
  readonly userVisibleText: string | null;
  readonly nonce: string;
  readonly toSign: string;
}

export class AppRequestError extends Error {
  override readonly name = 'AppRequestError';
  readonly status: number;
  readonly errorCode: string;
  constructor(status: number, errorCode: string, message: string) {
    super(message);
    this.status = status;
    this.errorCode = errorCode;
  }
}

/** POSTs JSON and returns the JSON answer; a non-2xx answer becomes an AppRequestError with the server's code. */
export function postJson(server: AppServer, path: string, body: unknown): Promise<unknown> {
  const url = new URL(path, `${server.baseUrl}/`);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = send(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, ...(server.ca ? { ca: server.ca } : {}), timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: { errorCode?: string; details?: string; message?: string } = {};
        try {
          json = JSON.parse(text);
        } catch {
          return reject(new AppRequestError(res.statusCode ?? 0, 'badResponse', `the server answered ${res.statusCode} with something that is not JSON`));
        }
        if ((res.statusCode ?? 500) >= 300) return reject(new AppRequestError(res.statusCode ?? 0, json.errorCode ?? 'error', json.details ?? json.message ?? `HTTP ${res.statusCode}`));
        resolve(json);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.origin} within 15 s`)));
    req.on('error', (error) => reject(new AppRequestError(0, 'unreachable', `cannot reach ${url.origin}: ${error.message}`)));
    req.end(payload);
  });
}

export type StartedBy = { readonly autoStartToken: string } | { readonly qr: string };

export interface ApproveOptions {
  readonly pin: string;
  /** Which credential answers; the first with a certificate when absent. */
  readonly credentialId?: string;
  /** Say no instead of signing. */
  readonly decline?: boolean;
}

/**
 * What the app does when a person scans the QR code (or the login page starts
 * it): claim the order, show who asks and what, then sign the challenge with
 * the eID's key after the PIN unlocks it, or decline.
 */
export async function approveOrder(server: AppServer, keys: KeyStore, startedBy: StartedBy, options: ApproveOptions): Promise<{ challenge: ShownChallenge; outcome: unknown }> {
  const ready = keys.list().filter((c) => c.certificatePem);
  // A mobile eID answers unless another is named: a card's keys are for TLS and signing documents.
  const credential = options.credentialId ? ready.find((c) => c.id === options.credentialId) : (ready.find((c) => c.kind === 'mobile') ?? ready[0]);
  if (!credential?.certificatePem) {
    // Tell the caller the app did start but has nothing to answer with (BankID's `started`); the order stays open.
    await postJson(server, 'app/v1/started', startedBy).catch(() => undefined);
    throw new AppRequestError(0, 'noCredential', options.credentialId ? `no eID ${options.credentialId} in this app` : 'this app holds no eID yet: enrol one first');
  }
  // A wrong PIN must not use up the order: the claim is one-shot.
  if (!options.decline) await keys.verifyPin(credential.id, options.pin);
  const challenge = (await postJson(server, 'app/v1/claim', startedBy)) as ShownChallenge;
  if (options.decline) {
    await postJson(server, 'app/v1/decline', { orderRef: challenge.orderRef, nonce: challenge.nonce });
    return { challenge, outcome: { status: 'declined' } };
  }
  const signature = await keys.sign(credential.id, options.pin, Buffer.from(challenge.toSign, 'base64'));
  const outcome = await postJson(server, 'app/v1/answer', { orderRef: challenge.orderRef, nonce: challenge.nonce, signature: signature.toString('base64'), certificate: credential.certificatePem });
  return { challenge, outcome };
}
