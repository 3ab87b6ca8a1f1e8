import type { Config } from '../../config/index.ts';
import { createSealer, loadEncryptionKey, type Sealer } from './sealing.ts';

/** The sealer the CLI and the part share, from the configuration. */
export async function openSealer(config: Pick<Config, 'oidc' | 'dataDir'>): Promise<Sealer> {
  return createSealer(await loadEncryptionKey(config.oidc.encryptionKey, config.dataDir));
}
