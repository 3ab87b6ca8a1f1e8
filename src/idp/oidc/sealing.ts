import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Encrypts small secrets (private JWKs, client secrets) for the database, bound to their purpose. */
export interface Sealer {
  seal(plain: string, purpose: string): Uint8Array;
  open(sealed: Uint8Array, purpose: string): string;
}

export class SealError extends Error {
  override readonly name = 'SealError';
}

const VERSION = 1;

/** AES-256-GCM; the purpose (e.g. `client-secret:<id>`) is authenticated, so a sealed value cannot be moved to another row. */
export function createSealer(key: Uint8Array): Sealer {
  if (key.length !== 32) throw new SealError('the encryption key must be 32 bytes');
  return {
    seal(plain, purpose) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(purpose));
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), iv, cipher.getAuthTag(), body]);
    },
    open(sealed, purpose) {
      const bytes = Buffer.from(sealed);
      if (bytes[0] !== VERSION || bytes.length < 29) throw new SealError(`cannot read sealed ${purpose}: unknown format`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(1, 13)).setAAD(Buffer.from(purpose));
        decipher.setAuthTag(bytes.subarray(13, 29));
        return Buffer.concat([decipher.update(bytes.subarray(29)), decipher.final()]).toString('utf8');
      } catch {
        throw new SealError(`cannot decrypt sealed ${purpose}: was oidc.encryptionKey changed?`);
      }
    },
  };
}

const KEY_FILE = 'oidc-encryption.key';

/**
 * The configured key; otherwise a key file in the data folder (created 0600 on
 * first start), so a database dump or replica alone never reveals the keys;
 * `memory://` gets a key for this process only.
 */
export async function loadEncryptionKey(configured: string | undefined, dataDir: string): Promise<Uint8Array> {
  if (configured) return Buffer.from(configured, 'base64');
  if (dataDir.startsWith('memory://')) return randomBytes(32);
  const file = join(dataDir, KEY_FILE);
  try {
    return decodeKeyFile(await readFile(file, 'utf8'), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  try {
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process wrote it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return decodeKeyFile(await readFile(file, 'utf8'), file);
    throw error;
  }
  await chmod(file, 0o600);
  return key;
}

function decodeKeyFile(text: string, file: string): Uint8Array {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== 32) throw new SealError(`${file} does not hold a 32-byte base64 key`);
  return key;
}
