export { configSchema, secret, type Config } from './schema.ts';
export { loadConfig, ConfigError, type ConfigSources } from './load.ts';
export { maskSecrets } from './mask.ts';
