export { configSchema, type Config } from './schema.ts';
export { secret, flag, port, httpUrl, listOf } from './fields.ts';
export { loadConfig, ConfigError, type ConfigSources } from './load.ts';
export { maskSecrets } from './mask.ts';
export { serverHostNames } from './hosts.ts';
