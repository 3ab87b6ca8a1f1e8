export { configSchema, secret, PART_NAMES, type Config, type PartName } from './schema.ts';
export { loadConfig, ConfigError, type ConfigSources } from './load.ts';
export { maskSecrets } from './mask.ts';
