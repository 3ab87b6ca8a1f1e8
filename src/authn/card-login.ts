import { randomBytes } from 'node:crypto';
import type { EphemeralStore } from '../store/index.ts';
import type { CardOutcome } from './card-check.ts';
import type { Requester, Requirements } from './orders.ts';

/** A card login someone (the IdP, the test page) started: where the person returns, and what the card must meet. */
export interface CardLoginRequest {
  readonly requestId: string;
  readonly requester: Requester;
  /** Absolute URL on this installation's public origin; `card=<handle>` is added on return. */
  readonly returnTo: string;
  readonly requirements: Requirements;
  readonly expiresAt: number;
}

export interface CardLoginServiceOptions {
  readonly store: EphemeralStore;
  /** The public origin (`server.publicBaseUrl`): the only place a card login may return to. */
  readonly publicBaseUrl: string;
  /** The URL of attempt `n` on the client-certificate listener (its rolling host). */
  readonly attemptUrl: (n: number, requestId: string) => string;
  readonly maxAttempts: number;
  /** Checks one request may cause on the listener, whatever the browser's cookie says. */
  readonly checksPerRequest: number;
  readonly requestTtlMs: number;
  /** How long the outcome of an attempt waits to be redeemed. */
  readonly handleTtlMs?: number;
  readonly now?: () => number;
}

export type AttemptStep = { readonly kind: 'go'; readonly url: string; readonly attempt: number } | { readonly kind: 'restartBrowser' } | { readonly kind: 'expired' };

const PREFIX = 'authn:card:';
const ID = /^[A-Za-z0-9_-]{32}$/;
const newId = () => randomBytes(24).toString('base64url');

/**
 * Card login over mutual TLS, around the checks: a caller begins a login
 * and sends the browser to `startPath`; each attempt goes to a fresh host
 * (browsers remember the chosen certificate per host), counted by the
 * browser's own cookie, until `maxAttempts`; the listener checks the
 * certificate and leaves the outcome under a one-time handle that only the
 * caller, for this request, can redeem — once, within a minute.
 */
export function createCardLoginService(options: CardLoginServiceOptions) {
  const { store } = options;
  const now = options.now ?? Date.now;
  const handleTtl = options.handleTtlMs ?? 60_000;
  const origin = new URL(options.publicBaseUrl).origin;
  const requestKey = (id: string) => `${PREFIX}request:${id}`;

  async function load(requestId: unknown): Promise<CardLoginRequest | undefined> {
    if (typeof requestId !== 'string' || !ID.test(requestId)) return undefined;
    const raw = await store.get(requestKey(requestId));
    const request = raw ? (JSON.parse(raw) as CardLoginRequest) : undefined;
    return request && request.expiresAt > now() ? request : undefined;
  }

  return {
    maxAttempts: options.maxAttempts,

    async begin(input: { readonly requester: Requester; readonly returnTo: string; readonly requirements?: Requirements }): Promise<{ requestId: string; startPath: string }> {
      let target: URL;
      try {
        target = new URL(input.returnTo);
      } catch {
        throw new Error(`returnTo is not a URL: ${input.returnTo}`);
      }
      // Never an open redirect: the outcome goes back to this installation only.
      if (target.origin !== origin) throw new Error(`a card login returns to ${origin} only, not ${target.origin}`);
      const request: CardLoginRequest = { requestId: newId(), requester: input.requester, returnTo: target.toString(), requirements: input.requirements ?? {}, expiresAt: now() + options.requestTtlMs };
      await store.set(requestKey(request.requestId), JSON.stringify(request), options.requestTtlMs);
      return { requestId: request.requestId, startPath: `/authn/card/start?request=${request.requestId}` };
    },

    /** The next attempt for a browser that has made `attemptsSoFar` (its cookie): a fresh host, or the restart advice. */
    async nextAttempt(requestId: unknown, attemptsSoFar: number): Promise<AttemptStep> {
      const request = await load(requestId);
      if (!request) return { kind: 'expired' };
      const attempt = (Number.isSafeInteger(attemptsSoFar) && attemptsSoFar > 0 ? attemptsSoFar : 0) + 1;
      if (attempt > options.maxAttempts) return { kind: 'restartBrowser' };
      return { kind: 'go', attempt, url: options.attemptUrl(attempt, request.requestId) };
    },

    /** The request an attempt on the listener belongs to (undefined: unknown or expired). */
    request: load,

    /** Counts a check on the listener against its request: at most `checksPerRequest`, however the browser's cookie was handled. */
    async admit(request: CardLoginRequest): Promise<boolean> {
      const used = await store.increment(`${PREFIX}checks:${request.requestId}`, Math.max(1, request.expiresAt - now()));
      return used <= options.checksPerRequest;
    },

    /** Keeps the outcome under a fresh one-time handle; returns where to send the browser. */
    async settle(request: CardLoginRequest, outcome: CardOutcome): Promise<string> {
      const handle = newId();
      await store.set(`${PREFIX}handle:${handle}`, JSON.stringify({ requestId: request.requestId, outcome }), handleTtl);
      const url = new URL(request.returnTo);
      url.searchParams.set('card', handle);
      return url.toString();
    },

    /** The outcome behind a handle, once, and only for the request it was made for. */
    async redeem(handle: unknown, requestId: string): Promise<CardOutcome | undefined> {
      if (typeof handle !== 'string' || !ID.test(handle)) return undefined;
      const raw = await store.take(`${PREFIX}handle:${handle}`);
      if (!raw) return undefined;
      const kept = JSON.parse(raw) as { requestId: string; outcome: CardOutcome };
      return kept.requestId === requestId ? kept.outcome : undefined;
    },

    /** Ends a request (after a successful login): later attempts on it find nothing. */
    async end(requestId: string): Promise<void> {
      if (ID.test(requestId)) await store.delete(requestKey(requestId));
    },
  };
}

export type CardLoginService = ReturnType<typeof createCardLoginService>;
