import type { Adapter, AdapterPayload } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { EphemeralStore } from '../../store/index.ts';

/**
 * oidc-provider's models (sessions, codes, tokens, grants, interactions) on
 * the short-lived store, so any IdP node can continue what another began.
 * Revoking a grant leaves a marker instead of enumerating its tokens: every
 * read of a grant-bound model checks it, which needs no set primitive.
 */
export function ephemeralAdapter(store: EphemeralStore, grantMarkerTtlMs: number, now: () => number) {
  return class EphemeralAdapter implements Adapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }

    key(id: string): string {
      return `oidc:${this.model}:${id}`;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const ttlMs = Math.max(1, Math.ceil(expiresIn * 1000));
      await store.set(this.key(id), JSON.stringify(payload), ttlMs);
      if (payload.uid) await store.set(`oidc:${this.model}:uid:${payload.uid}`, id, ttlMs);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      const [raw, consumed] = await Promise.all([store.get(this.key(id)), store.get(`${this.key(id)}:consumed`)]);
      if (!raw) return undefined;
      const payload = JSON.parse(raw) as AdapterPayload;
      if (payload.grantId && (await store.get(`oidc:revoked-grant:${payload.grantId}`))) return undefined;
      return consumed ? { ...payload, consumed: Number(consumed) } : payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const id = await store.get(`oidc:${this.model}:uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(): Promise<AdapterPayload | undefined> {
      // The device flow is not enabled.
      return undefined;
    }

    /** One-shot: a code replayed at the same moment on another node loses here, not after tokens were issued. */
    async consume(id: string): Promise<void> {
      const ttl = (await store.ttl(this.key(id))) ?? 1;
      if (!(await store.setIfAbsent(`${this.key(id)}:consumed`, String(Math.floor(now() / 1000)), ttl))) {
        throw new errors.InvalidGrant('grant request is invalid');
      }
    }

    async destroy(id: string): Promise<void> {
      await store.delete(this.key(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store.set(`oidc:revoked-grant:${grantId}`, '1', grantMarkerTtlMs);
    }
  };
}
