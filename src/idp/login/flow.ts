import qrcode from 'qrcode-generator';
import { qrContent, type CardLoginService, type CardOutcome, type OrderService, type Requester, type Requirements } from '../../authn/index.ts';
import type { PersonView } from '../../directory/index.ts';
import type { EphemeralStore } from '../../store/index.ts';
import type { AuthnMethod, SessionStore, SsoSession } from '../session/index.ts';

/** The order a login page is waiting for, kept under the login's own key. */
export interface PendingLogin {
  readonly method: AuthnMethod;
  readonly orderRef: string;
  readonly autoStartToken: string;
  readonly qrStartToken: string;
  readonly qrStartSecret: string;
  readonly startedAt: number;
}

export interface LoginFlowDependencies {
  readonly ephemeral: EphemeralStore;
  readonly orders: OrderService;
  /** Card login over mutual TLS on the authentication service; without it the method `mtls` is not offered. */
  readonly cardLogins?: CardLoginService;
  readonly sessions: SessionStore;
  readonly now: () => number;
  /** How long a person has to finish the pages. */
  readonly interactionMs: number;
}

/** What one poll of the order found. */
export type PollOutcome =
  | { readonly status: 'gone' }
  | { readonly status: 'pending'; readonly hintCode: string; readonly pending: PendingLogin }
  | { readonly status: 'failed'; readonly hintCode: string }
  /** Another poll already finished this order. */
  | { readonly status: 'taken' }
  | { readonly status: 'complete'; readonly session: SsoSession };

/** What the return from a card login found. */
export type CardOutcomeOfLogin =
  /** No card login waits for this login, or the handle is not its own: start again from the login's page. */
  | { readonly status: 'gone' }
  /** The card was refused; `startPath` begins a new attempt on the same request. */
  | { readonly status: 'refused'; readonly refusal: Extract<CardOutcome, { ok: false }>; readonly startPath: string }
  | { readonly status: 'complete'; readonly session: SsoSession };

/** The out-of-band methods (the eID app), offered whenever the login pages are. */
export const OOB_METHODS: readonly AuthnMethod[] = ['oob-other', 'oob-same'];

const pendingKey = (key: string) => `idp:pending:${key}`;
/** The card login a login waits for: its request on the authentication service, and where a new attempt starts. */
const cardKey = (key: string) => `idp:card:${key}`;

/**
 * The protocol-neutral part of a login (OIDC interaction or SAML request):
 * start an order on the authentication service, poll it, and turn a completed
 * order into the SSO session, exactly once whichever poll sees it first; or
 * the same with a card login over mutual TLS.
 */
export function createLoginFlow(deps: LoginFlowDependencies) {
  const readPending = async (key: string): Promise<PendingLogin | null> => {
    const raw = await deps.ephemeral.get(pendingKey(key));
    return raw ? (JSON.parse(raw) as PendingLogin) : null;
  };
  return {
    /** The methods these pages can offer: the eID app, and card login when the authentication service has it. */
    offered: (deps.cardLogins ? [...OOB_METHODS, 'mtls'] : OOB_METHODS) as readonly AuthnMethod[],
    readPending,
    async start(key: string, input: { readonly method: AuthnMethod; readonly requester: Requester; readonly endUserIp: string; readonly requirements: Requirements; readonly userVisibleText: string }): Promise<void> {
      const tokens = await deps.orders.start({ kind: 'auth', requester: input.requester, endUserIp: input.endUserIp, requirements: input.requirements, userVisibleText: input.userVisibleText });
      const pending: PendingLogin = { method: input.method, ...tokens, startedAt: deps.now() };
      await deps.ephemeral.set(pendingKey(key), JSON.stringify(pending), deps.interactionMs);
    },
    /** Cancels the order of this login, if one is waiting. */
    async cancel(key: string, requesterId: string): Promise<void> {
      const pending = await deps.ephemeral.take(pendingKey(key));
      if (pending) await deps.orders.cancel((JSON.parse(pending) as PendingLogin).orderRef, requesterId).catch(() => {});
    },
    async poll(key: string, requesterId: string): Promise<PollOutcome> {
      const pending = await readPending(key);
      if (!pending) return { status: 'gone' };
      const result = await deps.orders.collect(pending.orderRef, requesterId);
      if (result.status === 'pending') return { status: 'pending', hintCode: result.hintCode, pending };
      if (!(await deps.ephemeral.take(pendingKey(key)))) return { status: 'taken' };
      if (result.status === 'failed') return { status: 'failed', hintCode: result.hintCode };
      const completion = result.completionData;
      const session = await deps.sessions.create({ subject: completion.user, method: pending.method, loa: completion.loa, authTime: Math.floor(deps.now() / 1000), certificatePem: completion.certificatePem });
      return { status: 'complete', session };
    },
    /**
     * Begins a card login on the authentication service; the browser goes to
     * the returned path (its first rolling host) and comes back to `returnTo`
     * (on this installation's public origin) with a one-time handle.
     */
    async startCard(key: string, input: { readonly requester: Requester; readonly returnTo: string; readonly requirements: Requirements }): Promise<string> {
      if (!deps.cardLogins) throw new Error('card login is not offered here');
      const { requestId, startPath } = await deps.cardLogins.begin(input);
      await deps.ephemeral.set(cardKey(key), JSON.stringify({ requestId, startPath }), deps.interactionMs);
      return startPath;
    },
    /** Redeems the handle the card login came back with; a successful one becomes the SSO session, once. */
    async finishCard(key: string, handle: unknown): Promise<CardOutcomeOfLogin> {
      const raw = await deps.ephemeral.get(cardKey(key));
      if (!raw || !deps.cardLogins) return { status: 'gone' };
      const pending = JSON.parse(raw) as { requestId: string; startPath: string };
      const outcome = await deps.cardLogins.redeem(handle, pending.requestId);
      if (!outcome) return { status: 'gone' };
      if (!outcome.ok) return { status: 'refused', refusal: outcome, startPath: pending.startPath };
      if (!(await deps.ephemeral.take(cardKey(key)))) return { status: 'gone' };
      await deps.cardLogins.end(pending.requestId);
      const card = outcome.login;
      const session = await deps.sessions.create({ subject: card.user, method: 'mtls', loa: card.loa, authTime: Math.floor(deps.now() / 1000), certificatePem: card.certificatePem });
      return { status: 'complete', session };
    },
  };
}

/** An eID that names an HSA-id (a card's HSA-id certificate) logs in as that service identity: only it and its commissions are offered. */
export function asLoggedIn(person: PersonView | null, sso: SsoSession): PersonView | null {
  const hsaId = sso.subject.hsaId;
  if (!person || !hsaId) return person;
  return { ...person, serviceIdentities: person.serviceIdentities.filter((s) => s.hsaId === hsaId) };
}

export type LoginFlow = ReturnType<typeof createLoginFlow>;

/** The animated QR code for this second of the order, as an SVG data URL. */
export function qrImage(pending: PendingLogin, now: number): string {
  const code = qrcode(0, 'M');
  code.addData(qrContent(pending.qrStartToken, pending.qrStartSecret, Math.max(0, Math.floor((now - pending.startedAt) / 1000))));
  code.make();
  return `data:image/svg+xml;base64,${Buffer.from(code.createSvgTag({ cellSize: 4, margin: 4, scalable: true })).toString('base64')}`;
}

/** The same-device link: the app starts with the auto-start token and returns to the wait page. */
export function autoStartLink(pending: PendingLogin, waitPath: string): string {
  return `tillit-eid:///?autostarttoken=${encodeURIComponent(pending.autoStartToken)}&redirect=${encodeURIComponent(waitPath)}`;
}
