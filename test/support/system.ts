import { loadConfig, type Config } from '../../src/config/index.ts';
import type { PartFactory } from '../../src/server/index.ts';
import { startSystem, type RunningSystem } from '../../src/system/index.ts';
import pino from 'pino';

/** A whole system on free loopback ports with an in-memory database, silent logs. */
export async function startTestSystem(
  overrides: Record<string, unknown> = {},
  available?: ReadonlyMap<string, PartFactory>,
): Promise<RunningSystem & { config: Config }> {
  const config = loadConfig({
    // The client-certificate listeners on free ports too (overrides still win).
    env: { DATABASE_URL: undefined, REDIS_URL: undefined, TILLIT_AUTHN__MTLS__PORT: '0', TILLIT_AUTHN__CALLER_MTLS__PORT: '0', TILLIT_OIDC__MTLS__PORT: '0' },
    overrides: { dataDir: 'memory://', server: { host: '127.0.0.1', httpsPort: 0, httpPort: 0 }, log: { level: 'silent' }, ...overrides },
  });
  const system = await startSystem(config, { log: pino({ level: process.env['TEST_LOG'] ?? 'silent' }), ...(available ? { available } : {}) });
  return Object.assign(system, { config });
}
