import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { EphemeralStore } from '../store/index.ts';
import { checkQr, parseQr } from './qr.ts';

export type OrderKind = 'auth' | 'sign';
export type PendingHint = 'outstandingTransaction' | 'noClient' | 'started' | 'userSign';
export type FailedHint = 'expiredTransaction' | 'certificateErr' | 'userCancel' | 'cancelled' | 'startFailed';

/** What the relying party demands of the person and the eID. */
export interface Requirements {
  readonly personalIdentityNumber?: string;
  readonly hsaId?: string;
  readonly certificatePolicies?: readonly string[];
  readonly minimumLoa?: 2 | 3;
}

export interface Requester {
  /** The authenticated caller (an IdP): its client id. */
  readonly clientId: string;
  /** Shown in the app: who asks. */
  readonly displayName: string;
}

export interface StartOrder {
  readonly kind: OrderKind;
  readonly requester: Requester;
  readonly endUserIp: string;
  readonly requirements?: Requirements;
  /** Text shown to the user; for `sign`, the text being signed (required). */
  readonly userVisibleText?: string;
}

export interface OrderTokens {
  readonly orderRef: string;
  readonly autoStartToken: string;
  readonly qrStartToken: string;
  readonly qrStartSecret: string;
}

/** What the app is shown, and the exact bytes it must sign. */
export interface Challenge {
  readonly orderRef: string;
  readonly kind: OrderKind;
  readonly requesterName: string;
  readonly userVisibleText: string | null;
  readonly nonce: string;
  /** Base64 of the bytes to sign (see `challengeBytes`). */
  readonly toSign: string;
}

/** The result of checking the app's answer: the person and evidence, or why it failed. */
export type AnswerVerdict =
  | { readonly ok: true; readonly completion: Completion }
  | { readonly ok: false; readonly hint: 'certificateErr'; readonly reason: string };

export interface Completion {
  readonly user: { readonly personalIdentityNumber?: string; readonly hsaId?: string; readonly givenName?: string; readonly surname?: string; readonly name?: string };
  readonly certificatePem: string;
  readonly signature: string;
  readonly loa: number;
  readonly revocationEvidence: unknown;
}

export interface AppAnswer {
  /** Base64 signature over the challenge bytes by the eID's key. */
  readonly signature: string;
  readonly certificatePem: string;
}

/** Checks the eID behind an answer: signature over the challenge, chain, validity, revocation, LoA, requirements, person. */
export type AnswerVerifier = (input: { readonly challenge: Uint8Array; readonly answer: AppAnswer; readonly requirements: Requirements; readonly kind: OrderKind }) => Promise<AnswerVerdict>;

export type CollectResult =
  | { readonly orderRef: string; readonly status: 'pending'; readonly hintCode: PendingHint }
  | { readonly orderRef: string; readonly status: 'failed'; readonly hintCode: FailedHint; readonly reason?: string }
  | { readonly orderRef: string; readonly status: 'complete'; readonly completionData: Completion };

/** A refusal with the error code the API documents. */
export class OrderError extends Error {
  override readonly name = 'OrderError';
  readonly code: 'invalidParameters' | 'notFound' | 'alreadyInProgress' | 'staleQr' | 'forgedQr' | 'alreadyAnswered' | 'tooManyRequests';
  constructor(code: OrderError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

interface StoredOrder {
  readonly tokens: OrderTokens;
  readonly kind: OrderKind;
  readonly requester: Requester;
  readonly endUserIp: string;
  readonly requirements: Requirements;
  readonly userVisibleText: string | null;
  readonly startedAt: number;
  readonly expiresAt: number;
  state:
    | { status: 'pending'; hintCode: PendingHint; nonce?: string }
    | { status: 'failed'; hintCode: FailedHint; reason?: string }
    | { status: 'complete'; completion: Completion };
}

export interface OrderServiceOptions {
  readonly store: EphemeralStore;
  readonly verifyAnswer: AnswerVerifier;
  readonly now?: () => number;
  /** How long an order lives (BankID: 3 minutes). */
  readonly orderTtlMs?: number;
  /** After this long with no app, a pending order's hint turns from outstandingTransaction to noClient. */
  readonly noClientAfterMs?: number;
  /** How old a scanned QR code may be. */
  readonly qrMaxAgeSeconds?: number;
  /** Orders one caller may start per minute; a caller is an IdP serving many users, so this guards against floods, not use. */
  readonly maxOrdersPerMinute?: number;
  readonly maxTextLength?: number;
}

const PREFIX = 'authn:';
/** How long after expiry an order's outcome can still be collected. */
const KEEP_FINISHED_MS = 60_000;

/**
 * The out-of-band order lifecycle, modelled on BankID's relying-party API:
 * start → (app claims with the auto-start token or a fresh QR code, signs the
 * challenge) → collect, or cancel. Every state change that must happen once
 * (claim, answer, terminal state) is guarded by a one-shot key, so two racing
 * requests can never both win, on one node or many.
 */
export function createOrderService(options: OrderServiceOptions) {
  const { store, verifyAnswer } = options;
  const now = options.now ?? Date.now;
  const ttl = options.orderTtlMs ?? 180_000;
  const noClientAfter = options.noClientAfterMs ?? 30_000;
  const qrMaxAge = options.qrMaxAgeSeconds ?? 3;
  const perMinute = options.maxOrdersPerMinute ?? 6_000;
  const maxText = options.maxTextLength ?? 40_000;

  const keyOf = (orderRef: string) => `${PREFIX}order:${orderRef}`;
  const finalKeyOf = (orderRef: string) => `${PREFIX}final:${orderRef}`;
  // Kept apart from the order so that noting it can never overwrite a claim made at the same moment.
  const startedKeyOf = (orderRef: string) => `${PREFIX}started:${orderRef}`;

  async function load(orderRef: string): Promise<StoredOrder | undefined> {
    const [raw, final] = await Promise.all([store.get(keyOf(orderRef)), store.get(finalKeyOf(orderRef))]);
    if (!raw) return undefined;
    const order = JSON.parse(raw) as StoredOrder;
    // The terminal state lives in its own one-shot key, so a pending update that lost a race cannot overwrite it.
    if (final) order.state = JSON.parse(final) as StoredOrder['state'];
    return order;
  }

  /** Both keys of an order live until a while after it expires, so a late collect still sees the outcome. */
  const remainingMs = (order: StoredOrder) => Math.max(1, Math.ceil(order.expiresAt + KEEP_FINISHED_MS - now()));

  async function save(order: StoredOrder): Promise<void> {
    await store.set(keyOf(order.tokens.orderRef), JSON.stringify(order), remainingMs(order));
  }

  /** Moves an order to a terminal state exactly once; false if something else got there first. */
  async function finish(order: StoredOrder, state: StoredOrder['state']): Promise<boolean> {
    if (!(await store.setIfAbsent(finalKeyOf(order.tokens.orderRef), JSON.stringify(state), remainingMs(order)))) return false;
    order.state = state;
    return true;
  }

  /**
   * An expired pending order reads as failed, whether or not its key has
   * expired yet: startFailed when no app ever took it (as BankID: the app was
   * not started in time), expiredTransaction when the user did not finish.
   */
  async function current(orderRef: string): Promise<StoredOrder | undefined> {
    const order = await load(orderRef);
    if (order && order.state.status === 'pending' && now() >= order.expiresAt) {
      const hintCode = order.state.nonce === undefined ? 'startFailed' : 'expiredTransaction';
      if (!(await finish(order, { status: 'failed', hintCode }))) return load(orderRef);
    }
    return order;
  }

  /** What a pending order waits for: the app to start (noClient once that takes long), the app to find an eID, or the user's PIN. */
  async function pendingHint(order: StoredOrder & { state: { status: 'pending' } }): Promise<PendingHint> {
    if (order.state.nonce !== undefined) return order.state.hintCode;
    if (await store.get(startedKeyOf(order.tokens.orderRef))) return 'started';
    return now() - order.startedAt >= noClientAfter ? 'noClient' : 'outstandingTransaction';
  }

  /** The order behind an auto-start token or a fresh QR code, without using either up. */
  async function orderStartedBy(startedBy: { autoStartToken: string } | { qr: string }): Promise<StoredOrder> {
    if ('qr' in startedBy) {
      const parsed = typeof startedBy.qr === 'string' ? parseQr(startedBy.qr) : undefined;
      if (!parsed) throw new OrderError('invalidParameters', 'not a Tillit QR code');
      const orderRef = await store.get(`${PREFIX}qr:${parsed.qrStartToken}`);
      const order = orderRef ? await current(orderRef) : undefined;
      if (!order) throw new OrderError('notFound', 'no pending order for that code');
      const check = checkQr(parsed, order.tokens.qrStartSecret, Math.floor((now() - order.startedAt) / 1000), qrMaxAge);
      if (!check.ok) {
        throw check.reason === 'forged' ? new OrderError('forgedQr', 'the QR code was not made by this order') : new OrderError('staleQr', 'the QR code is too old: scan the code on the screen again');
      }
      return order;
    }
    const orderRef = typeof startedBy.autoStartToken === 'string' ? await store.get(`${PREFIX}auto:${startedBy.autoStartToken}`) : null;
    const order = orderRef ? await current(orderRef) : undefined;
    if (!order) throw new OrderError('notFound', 'no pending order for that code');
    return order;
  }

  async function owned(orderRef: string, clientId: string): Promise<StoredOrder> {
    const order = typeof orderRef === 'string' && /^[0-9a-f-]{36}$/.test(orderRef) ? await current(orderRef) : undefined;
    // Another caller's order is reported exactly like a missing one: order refs are not an oracle.
    if (!order || order.requester.clientId !== clientId) throw new OrderError('notFound', 'no such order');
    return order;
  }

  async function claim(order: StoredOrder | undefined, startedBy: 'autoStart' | 'qr'): Promise<Challenge> {
    if (!order || order.state.status !== 'pending') throw new OrderError('notFound', 'no pending order for that code');
    const nonce = randomBytes(32).toString('base64url');
    if (!(await store.setIfAbsent(`${PREFIX}claim:${order.tokens.orderRef}`, startedBy, ttl))) {
      throw new OrderError('alreadyInProgress', 'the order is already being handled by an app');
    }
    order.state = { status: 'pending', hintCode: 'userSign', nonce };
    await save(order);
    return challengeFor(order, nonce);
  }

  return {
    async start(request: StartOrder): Promise<OrderTokens> {
      validateStart(request, maxText);
      const window = Math.floor(now() / 60_000);
      if ((await store.increment(`${PREFIX}rate:${request.requester.clientId}:${window}`, 120_000)) > perMinute) {
        throw new OrderError('tooManyRequests', `more than ${perMinute} orders a minute from ${request.requester.clientId}`);
      }
      const tokens: OrderTokens = { orderRef: randomUUID(), autoStartToken: randomUUID(), qrStartToken: randomUUID(), qrStartSecret: randomUUID() };
      const startedAt = now();
      const order: StoredOrder = {
        tokens,
        kind: request.kind,
        requester: request.requester,
        endUserIp: request.endUserIp,
        requirements: request.requirements ?? {},
        userVisibleText: request.userVisibleText ?? null,
        startedAt,
        expiresAt: startedAt + ttl,
        state: { status: 'pending', hintCode: 'outstandingTransaction' },
      };
      await save(order);
      await store.set(`${PREFIX}auto:${tokens.autoStartToken}`, tokens.orderRef, ttl);
      await store.set(`${PREFIX}qr:${tokens.qrStartToken}`, tokens.orderRef, ttl);
      return tokens;
    },

    async collect(orderRef: string, clientId: string): Promise<CollectResult> {
      const order = await owned(orderRef, clientId);
      const state = order.state;
      if (state.status === 'pending') return { orderRef, status: 'pending', hintCode: await pendingHint(order as StoredOrder & { state: { status: 'pending' } }) };
      if (state.status === 'failed') return { orderRef, status: 'failed', hintCode: state.hintCode, ...(state.reason ? { reason: state.reason } : {}) };
      return { orderRef, status: 'complete', completionData: state.completion };
    },

    async cancel(orderRef: string, clientId: string): Promise<void> {
      const order = await owned(orderRef, clientId);
      if (order.state.status !== 'pending') throw new OrderError('notFound', 'the order is already finished');
      if (!(await finish(order, { status: 'failed', hintCode: 'cancelled' }))) throw new OrderError('notFound', 'the order is already finished');
    },

    /** The app opened through the same-device link. */
    async claimByAutoStartToken(autoStartToken: string): Promise<Challenge> {
      const orderRef = typeof autoStartToken === 'string' ? await store.take(`${PREFIX}auto:${autoStartToken}`) : null;
      return claim(orderRef ? await current(orderRef) : undefined, 'autoStart');
    },

    /** The app scanned the animated QR code on another device. */
    async claimByQr(content: string): Promise<Challenge> {
      const order = await orderStartedBy({ qr: content });
      await store.delete(`${PREFIX}qr:${order.tokens.qrStartToken}`);
      return claim(order, 'qr');
    },

    /**
     * The app was started for an order (same-device link or a scanned code)
     * but holds no eID it can use: the caller sees `started`, as with BankID,
     * and can tell the user to enrol or pick another device. Uses nothing up.
     */
    async noteStarted(startedBy: { autoStartToken: string } | { qr: string }): Promise<void> {
      const order = await orderStartedBy(startedBy);
      if (order.state.status !== 'pending') throw new OrderError('notFound', 'no pending order for that code');
      await store.set(startedKeyOf(order.tokens.orderRef), '1', remainingMs(order));
    },

    /** The user declined in the app. */
    async decline(orderRef: string, nonce: string): Promise<void> {
      const order = await claimedOrder(orderRef, nonce);
      if (!(await finish(order, { status: 'failed', hintCode: 'userCancel' }))) throw new OrderError('alreadyAnswered', 'the order is already finished');
    },

    /** The app's signature over the challenge; completes or fails the order, once. */
    async answer(orderRef: string, nonce: string, answer: AppAnswer): Promise<CollectResult> {
      const order = await claimedOrder(orderRef, nonce);
      if (!(await store.setIfAbsent(`${PREFIX}answer:${orderRef}`, '1', ttl + KEEP_FINISHED_MS))) {
        throw new OrderError('alreadyAnswered', 'the order has already been answered');
      }
      const verdict = await verifyAnswer({ challenge: challengeBytes(order, nonce), answer, requirements: order.requirements, kind: order.kind });
      const state: StoredOrder['state'] = verdict.ok ? { status: 'complete', completion: verdict.completion } : { status: 'failed', hintCode: verdict.hint, reason: verdict.reason };
      if (!(await finish(order, state))) throw new OrderError('alreadyAnswered', 'the order was finished meanwhile (cancelled or expired)');
      if (state.status === 'complete') return { orderRef, status: 'complete', completionData: state.completion };
      return { orderRef, status: 'failed', hintCode: state.hintCode, ...(state.reason ? { reason: state.reason } : {}) };
    },
  };

  async function claimedOrder(orderRef: string, nonce: string): Promise<StoredOrder> {
    const order = typeof orderRef === 'string' && /^[0-9a-f-]{36}$/.test(orderRef) ? await current(orderRef) : undefined;
    if (!order || order.state.status !== 'pending') throw new OrderError('notFound', 'no pending order');
    // The nonce proves the answer comes from the app that claimed the order, for this claim.
    if (order.state.nonce === undefined || typeof nonce !== 'string' || order.state.nonce !== nonce) throw new OrderError('notFound', 'no pending order');
    return order;
  }
}

export type OrderService = ReturnType<typeof createOrderService>;

function challengeFor(order: StoredOrder, nonce: string): Challenge {
  return {
    orderRef: order.tokens.orderRef,
    kind: order.kind,
    requesterName: order.requester.displayName,
    userVisibleText: order.userVisibleText,
    nonce,
    toSign: Buffer.from(challengeBytes(order, nonce)).toString('base64'),
  };
}

/**
 * The bytes the eID signs. They bind the order, its kind, who asked, a digest
 * of the text shown and a one-time server nonce, so an answer cannot be
 * replayed, moved to another order or reused for another text.
 */
export function challengeBytes(order: Pick<StoredOrder, 'tokens' | 'kind' | 'requester' | 'userVisibleText'>, nonce: string): Uint8Array {
  const textDigest = createHash('sha256').update(order.userVisibleText ?? '').digest('hex');
  return new TextEncoder().encode(['tillit-authn-v1', order.tokens.orderRef, order.kind, order.requester.clientId, textDigest, nonce].join('\n'));
}

function validateStart(request: StartOrder, maxText: number): void {
  if (request.kind !== 'auth' && request.kind !== 'sign') throw new OrderError('invalidParameters', 'kind must be auth or sign');
  if (typeof request.endUserIp !== 'string' || isIP(request.endUserIp) === 0) throw new OrderError('invalidParameters', 'endUserIp must be the end user’s IP address');
  if (request.kind === 'sign' && !request.userVisibleText) throw new OrderError('invalidParameters', 'userVisibleText is required to sign');
  if (request.userVisibleText !== undefined && (typeof request.userVisibleText !== 'string' || request.userVisibleText.length > maxText)) {
    throw new OrderError('invalidParameters', `userVisibleText must be text of at most ${maxText} characters`);
  }
  const loa = request.requirements?.minimumLoa;
  if (loa !== undefined && loa !== 2 && loa !== 3) throw new OrderError('invalidParameters', 'requirements.minimumLoa must be 2 or 3');
}
