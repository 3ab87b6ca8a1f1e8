import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { readCookie } from '../../idp/session/index.ts';
import type { EphemeralStore } from '../../store/index.ts';

export const PORTAL_COOKIE = 'tillit_portal';
const ID = /^[A-Za-z0-9_-]{43}$/;

export interface PendingUnlock {
  readonly cardId: number;
  readonly orderRef: string;
  readonly autoStartToken: string;
  readonly qrStartToken: string;
  readonly qrStartSecret: string;
  /** When the order started (ms), for the animated QR code's time. */
  readonly startedAt: number;
}

export interface PortalSession {
  readonly hsaId: string;
  readonly name: string;
  /** Sent back in every form; a post without it is refused (CSRF). */
  readonly csrf: string;
  readonly signedInAt: number;
  /** The holder's mobile eID login for a card unlock the administrator started (one at a time). */
  unlock?: PendingUnlock | undefined;
  /** One message for the next page (after a post, before the redirect). */
  flash?: { readonly kind: 'ok' | 'error'; readonly text: string } | undefined;
}

/**
 * The administrator's portal session in the short-lived store. Idle timeout:
 * each request renews it for `idleMs`; left alone that long, it is gone and
 * the next page asks to sign in again. Never longer than `maxMs` in all.
 */
export function portalSessions(store: EphemeralStore, idleMs: number, maxMs: number, now: () => number) {
  const key = (id: string) => `portal:session:${id}`;
  const cookie = (reply: FastifyReply, id: string, maxAgeSeconds: number) =>
    reply.header('set-cookie', `${PORTAL_COOKIE}=${id}; Path=/portal; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Lax`);
  return {
    async read(request: FastifyRequest, reply: FastifyReply): Promise<{ id: string; session: PortalSession } | null> {
      const id = readCookie(request.headers.cookie, PORTAL_COOKIE);
      if (!id || !ID.test(id)) return null;
      const raw = await store.get(key(id));
      if (!raw) return null;
      const session = JSON.parse(raw) as PortalSession;
      if (now() - session.signedInAt > maxMs) {
        await store.delete(key(id));
        return null;
      }
      await store.set(key(id), raw, idleMs);
      cookie(reply, id, Math.ceil(idleMs / 1000));
      return { id, session };
    },
    async start(reply: FastifyReply, hsaId: string, name: string): Promise<void> {
      const id = randomBytes(32).toString('base64url');
      const session: PortalSession = { hsaId, name, csrf: randomBytes(32).toString('base64url'), signedInAt: now() };
      await store.set(key(id), JSON.stringify(session), idleMs);
      cookie(reply, id, Math.ceil(idleMs / 1000));
    },
    async save(id: string, session: PortalSession): Promise<void> {
      await store.set(key(id), JSON.stringify(session), idleMs);
    },
    async end(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const id = readCookie(request.headers.cookie, PORTAL_COOKIE);
      if (id && ID.test(id)) await store.delete(key(id));
      cookie(reply, '', 0);
    },
  };
}
export type PortalSessions = ReturnType<typeof portalSessions>;

export function csrfMatches(session: PortalSession, sent: unknown): boolean {
  if (typeof sent !== 'string' || sent.length !== session.csrf.length) return false;
  return timingSafeEqual(Buffer.from(sent), Buffer.from(session.csrf));
}
