import { randomBytes } from 'node:crypto';
import type { EphemeralStore } from '../../store/index.ts';

/** How a person may log in: eID app on another device (QR), on this device, or a card over mutual TLS. */
export const AUTHN_METHODS = ['oob-other', 'oob-same', 'mtls'] as const;
/** How the person proved who they are. */
export type AuthnMethod = (typeof AUTHN_METHODS)[number];

/** Who logged in, how and when: what the SSO session holds and each client login keeps a copy of. */
export interface LoginRecord {
  readonly subject: { readonly personalIdentityNumber?: string; readonly hsaId?: string; readonly givenName?: string; readonly surname?: string; readonly name?: string };
  readonly method: AuthnMethod;
  readonly loa: number;
  /** Seconds since the epoch. */
  readonly authTime: number;
  readonly certificatePem: string;
}

export interface SsoSession extends LoginRecord {
  readonly id: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

/** A service that received a login from this session, to be told at logout. */
export interface Participant {
  readonly protocol: 'oidc' | 'saml';
  readonly clientId: string;
  /** The protocol's own session reference (OIDC `sid`, SAML SessionIndex). */
  readonly sessionRef?: string;
  /** SAML: the NameID the SP was given, which its LogoutRequest must name. */
  readonly nameId?: { readonly format: string; readonly value: string };
}

/** The cookie naming the SSO session on the IdP's host. */
export const SSO_COOKIE = 'tillit_sso';

/** The session's login alone (no id, no expiry): the copy a client login keeps. */
export function loginRecordOf(sso: SsoSession): LoginRecord {
  return { subject: sso.subject, method: sso.method, loa: sso.loa, authTime: sso.authTime, certificatePem: sso.certificatePem };
}

/** Stable account id for the login: the personnummer, or the HSA-id for an eID that names only that. */
export function accountIdOf(login: Pick<LoginRecord, 'subject'>): string {
  const id = login.subject.personalIdentityNumber ?? login.subject.hsaId;
  if (!id) throw new Error('a login names neither a personnummer nor an HSA-id');
  return id;
}

/**
 * The single sign-on session both protocols share, on the short-lived store.
 * One key per session; participants are appended beside it (the store's
 * `append`, numbered keys) so two logins finishing at once never lose each other.
 */
export function createSessionStore(store: EphemeralStore, options: { ttlMs: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  const key = (id: string) => `sso:${id}`;
  const validId = (id: unknown): id is string => typeof id === 'string' && /^[A-Za-z0-9_-]{43}$/.test(id);
  return {
    async create(login: LoginRecord): Promise<SsoSession> {
      const session: SsoSession = { ...login, id: randomBytes(32).toString('base64url'), expiresAt: Math.floor((now() + options.ttlMs) / 1000) };
      await store.set(key(session.id), JSON.stringify(session), options.ttlMs);
      return session;
    },
    /** The live session, or null (unknown, expired, ended). */
    async get(id: unknown): Promise<SsoSession | null> {
      if (!validId(id)) return null;
      const raw = await store.get(key(id));
      const session = raw ? (JSON.parse(raw) as SsoSession) : null;
      return session && session.expiresAt * 1000 > now() ? session : null;
    },
    /** Records a participant for as long as the session lives (one step on the store); nothing when the session has ended. */
    async addParticipant(id: string, participant: Participant): Promise<void> {
      await store.append(key(id), JSON.stringify(participant));
    },
    async participants(id: string): Promise<Participant[]> {
      if (!validId(id)) return [];
      return (await store.appended(key(id))).map((r) => JSON.parse(r) as Participant);
    },
    /** Ends the session; returns who took part, for logout notices. */
    async end(id: unknown): Promise<Participant[]> {
      if (!validId(id)) return [];
      const participants = await this.participants(id);
      await store.delete(key(id));
      return participants;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

/** Reads one cookie from a Cookie header. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const [k, ...rest] = pair.trim().split('=');
    if (k === name) return rest.join('=');
  }
  return undefined;
}

export function sessionCookie(session: SsoSession | null, ttlSeconds: number): string {
  return session ? `${SSO_COOKIE}=${session.id}; Path=/; Max-Age=${ttlSeconds}; HttpOnly; Secure; SameSite=Lax` : `${SSO_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax`;
}
