import { createHmac, createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign as signWith, timingSafeEqual, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** After this many wrong PINs in a row the key store locks for good (as a card's PIN blocks). */
export const MAX_PIN_ATTEMPTS = 3;
const STATE_FILE = 'keystore.json';
const PIN_PATTERN = /^\d{6,12}$/;

export type CredentialKind = 'mobile' | 'card';
/** What a certificate is for: logging in (TLS client, OOB answers) or signing. */
export type CredentialUse = 'auth' | 'sign';

export interface Credential {
  readonly id: string;
  readonly kind: CredentialKind;
  readonly label: string;
  /** PEM of the certificate the key belongs to; absent while an enrolment is under way. */
  readonly certificatePem?: string;
  /** Issuing chain, leaf's issuer first. */
  readonly chainPem: readonly string[];
  /** The private key as encrypted PKCS#8 PEM under the PIN (readable by OpenSSL with the PIN). */
  readonly encryptedKeyPem: string;
  readonly createdAt: string;
  /** A card's certificates share the card's id; absent for a mobile eID. */
  readonly cardId?: string;
  /** What the certificate is for (a mobile eID does both). */
  readonly uses?: readonly CredentialUse[];
}

interface State {
  readonly version: 1;
  failedPinAttempts: number;
  credentials: Credential[];
  /**
   * A card's admin (unlock) key per card id, base64, as the manufacturer
   * writes it onto the chip; the portal keeps the same key. Kept in the clear
   * here because this app only plays the card.
   */
  cardAdminKeys?: Record<string, string>;
  /** The unlock challenge the card last gave out: answerable once. */
  pendingUnlock?: { cardId: string; challenge: string };
}

export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
  readonly code: 'badPin' | 'wrongPin' | 'locked' | 'notFound' | 'corrupt' | 'unlockRefused';
  readonly attemptsLeft: number | undefined;
  constructor(code: KeyStoreError['code'], message: string, attemptsLeft?: number) {
    super(message);
    this.code = code;
    this.attemptsLeft = attemptsLeft;
  }
}

/**
 * The eID app's key store: a folder holding the user's keys, each encrypted
 * under the PIN, and a counter of wrong PINs that locks the store after
 * three in a row. Every change is written to a new file and renamed into
 * place, so a crash never leaves a half-written store.
 */
export async function openKeyStore(home: string) {
  await mkdir(home, { recursive: true, mode: 0o700 });
  const path = join(home, STATE_FILE);
  let state = await readState(path);

  async function persist(next: State): Promise<void> {
    const temporary = `${path}.${process.pid}.${randomUUID()}.tmp`;
    await writeFile(temporary, JSON.stringify(next, null, 2), { mode: 0o600 });
    await rename(temporary, path);
    state = next;
  }

  function find(id: string): Credential {
    const credential = state.credentials.find((c) => c.id === id);
    if (!credential) throw new KeyStoreError('notFound', `no credential ${id} in this app`);
    return credential;
  }

  /** Decrypts a key with the PIN, counting wrong PINs; the count is saved before the answer is given. */
  async function unlock(credential: Credential, pin: string): Promise<KeyObject> {
    if (state.failedPinAttempts >= MAX_PIN_ATTEMPTS) throw new KeyStoreError('locked', 'the app is locked after too many wrong PINs; enrol a new mobile eID', 0);
    try {
      const key = createPrivateKey({ key: credential.encryptedKeyPem, format: 'pem', passphrase: pin });
      if (state.failedPinAttempts > 0) await persist({ ...state, failedPinAttempts: 0 });
      return key;
    } catch {
      const failed = state.failedPinAttempts + 1;
      await persist({ ...state, failedPinAttempts: failed });
      const left = MAX_PIN_ATTEMPTS - failed;
      if (left === 0) throw new KeyStoreError('locked', 'wrong PIN: the app is now locked; enrol a new mobile eID', 0);
      throw new KeyStoreError('wrongPin', `wrong PIN: ${left} ${left === 1 ? 'attempt' : 'attempts'} left`, left);
    }
  }

  /** Stores several keys at once (a card's authentication and signature keys): all or none. */
  async function importKeys(pin: string, imports: readonly { kind: CredentialKind; label: string; privateKey: KeyObject; certificatePem: string; chainPem: readonly string[]; cardId?: string; uses?: readonly CredentialUse[] }[]): Promise<string[]> {
    checkPinFormat(pin);
    if (state.credentials.length > 0) await unlock(state.credentials[0]!, pin);
    const added: Credential[] = imports.map((i) => ({
      id: randomUUID(),
      kind: i.kind,
      label: i.label,
      certificatePem: i.certificatePem,
      chainPem: i.chainPem,
      encryptedKeyPem: i.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: pin }) as string,
      createdAt: new Date().toISOString(),
      ...(i.cardId ? { cardId: i.cardId } : {}),
      ...(i.uses ? { uses: i.uses } : {}),
    }));
    await persist({ ...state, credentials: [...state.credentials, ...added] });
    return added.map((c) => c.id);
  }

  return {
    home,
    list(): readonly Credential[] {
      return state.credentials;
    },
    get locked(): boolean {
      return state.failedPinAttempts >= MAX_PIN_ATTEMPTS;
    },

    /** Makes a new P-256 key under the PIN; its certificate is attached when the enrolment completes. */
    async createKey(kind: CredentialKind, label: string, pin: string): Promise<{ id: string; publicKey: KeyObject; privateKey: KeyObject }> {
      checkPinFormat(pin);
      if (state.credentials.length > 0) await unlock(state.credentials[0]!, pin);
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const credential: Credential = {
        id: randomUUID(),
        kind,
        label,
        chainPem: [],
        encryptedKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: pin }) as string,
        createdAt: new Date().toISOString(),
      };
      await persist({ ...state, credentials: [...state.credentials, credential] });
      return { id: credential.id, publicKey, privateKey };
    },

    /** Stores an existing key (a test card's) under the PIN, with its certificate. */
    async importKey(kind: CredentialKind, label: string, pin: string, privateKey: KeyObject, certificatePem: string, chainPem: readonly string[], card?: { cardId: string; uses: readonly CredentialUse[] }): Promise<string> {
      return (await importKeys(pin, [{ kind, label, privateKey, certificatePem, chainPem, ...(card ?? {}) }]))[0]!;
    },

    importKeys,

    /** The key in the clear as PKCS#8 PEM, after the PIN unlocks it (for a TLS client; never written anywhere). */
    async unlockedKeyPem(id: string, pin: string): Promise<string> {
      const key = await unlock(find(id), pin);
      return key.export({ type: 'pkcs8', format: 'pem' }) as string;
    },

    async attachCertificate(id: string, certificatePem: string, chainPem: readonly string[]): Promise<void> {
      const credential = find(id);
      await persist({ ...state, credentials: state.credentials.map((c) => (c === credential ? { ...c, certificatePem, chainPem } : c)) });
    },

    async remove(id: string): Promise<void> {
      find(id);
      await persist({ ...state, credentials: state.credentials.filter((c) => c.id !== id) });
    },

    /** Writes a card's admin key (the card manufacturer does this at production). */
    async setCardAdminKey(cardId: string, adminKey: Uint8Array): Promise<void> {
      if (!state.credentials.some((c) => c.cardId === cardId)) throw new KeyStoreError('notFound', `no card ${cardId} in this app`);
      if (adminKey.length < 32) throw new KeyStoreError('unlockRefused', 'a card admin key is at least 32 bytes');
      await persist({ ...state, cardAdminKeys: { ...state.cardAdminKeys, [cardId]: Buffer.from(adminKey).toString('base64') } });
    },

    /**
     * The card's unlock challenge: 32 random bytes, base64. The card keeps it
     * and accepts one response to it (a new challenge replaces the old one).
     */
    async unlockChallenge(cardId: string): Promise<string> {
      if (!state.cardAdminKeys?.[cardId]) throw new KeyStoreError('notFound', `card ${cardId} has no admin key: it cannot be unlocked, only replaced`);
      const challenge = randomBytes(32).toString('base64');
      await persist({ ...state, pendingUnlock: { cardId, challenge } });
      return challenge;
    },

    /**
     * Unlocks the card with the portal's response to its challenge: HMAC-SHA256
     * of the challenge under the card's admin key. The challenge is used up
     * whatever the outcome, so a response cannot be guessed at.
     */
    async unlockCard(cardId: string, response: string): Promise<void> {
      const pending = state.pendingUnlock;
      const key = state.cardAdminKeys?.[cardId];
      if (!pending || pending.cardId !== cardId || !key) throw new KeyStoreError('unlockRefused', `card ${cardId} has given out no unlock challenge: ask for one first`);
      const expected = createHmac('sha256', Buffer.from(key, 'base64')).update(Buffer.from(pending.challenge, 'base64')).digest();
      const given = Buffer.from(typeof response === 'string' ? response : '', 'base64');
      const { pendingUnlock: _used, ...rest } = state;
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        await persist(rest);
        throw new KeyStoreError('unlockRefused', 'the unlock response does not answer the challenge: ask for a new challenge and unlock through the portal again');
      }
      await persist({ ...rest, failedPinAttempts: 0 });
    },

    /** Checks the PIN (counting a wrong one) without using the key, before anything is sent to the server. */
    async verifyPin(id: string, pin: string): Promise<void> {
      await unlock(find(id), pin);
    },

    /** Signs `data` with the credential's key after the PIN unlocks it (SHA-256; ECDSA or RSA by key type). */
    async sign(id: string, pin: string, data: Uint8Array): Promise<Buffer> {
      const key = await unlock(find(id), pin);
      return signWith('sha256', data, key);
    },
  };
}

export type KeyStore = Awaited<ReturnType<typeof openKeyStore>>;

function checkPinFormat(pin: string): void {
  if (typeof pin !== 'string' || !PIN_PATTERN.test(pin)) throw new KeyStoreError('badPin', 'a PIN is 6 to 12 digits');
}

async function readState(path: string): Promise<State> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, failedPinAttempts: 0, credentials: [] };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as State;
    if (parsed.version !== 1 || !Array.isArray(parsed.credentials) || typeof parsed.failedPinAttempts !== 'number') throw new Error('unexpected shape');
    return parsed;
  } catch (cause) {
    throw new KeyStoreError('corrupt', `the key store ${path} is damaged (${(cause as Error).message}); it was left as it is`);
  }
}
