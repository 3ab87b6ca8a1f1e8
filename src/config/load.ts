import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface ConfigSources {
  /** Path of a JSON config file; read if given (missing file is an error). */
  readonly file?: string | undefined;
  /** Environment variables; only `TILLIT_*`, `DATABASE_URL` and `REDIS_URL` are read. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values set in code (tests, CLI flags); they win over env and file. */
  readonly overrides?: Record<string, unknown>;
}

const ENV_PREFIX = 'TILLIT_';
/** Conventional names that other tools set too. */
const WELL_KNOWN_ENV: Record<string, string[]> = {
  DATABASE_URL: ['database', 'url'],
  REDIS_URL: ['redis', 'url'],
};
const NOT_CONFIG_ENV = new Set(['TILLIT_CONFIG']);

/**
 * Reads the effective configuration: defaults < file < environment < overrides.
 * Environment names are the key path in upper snake case with `__` between
 * levels: `server.httpsPort` is `TILLIT_SERVER__HTTPS_PORT`.
 */
export function loadConfig(sources: ConfigSources = {}): Config {
  const raw: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  if (sources.file) {
    const fileValues = readConfigFile(sources.file);
    for (const [path, value] of leaves(fileValues)) {
      setPath(raw, path, value);
      origin.set(path.join('.'), `in ${sources.file}`);
    }
  }
  for (const [name, value] of Object.entries(sources.env ?? {})) {
    if (value === undefined || value === '') continue;
    const path = WELL_KNOWN_ENV[name] ?? (name.startsWith(ENV_PREFIX) && !NOT_CONFIG_ENV.has(name) ? envNameToPath(name) : undefined);
    if (!path) continue;
    setPath(raw, path, value);
    origin.set(path.join('.'), `from ${name}`);
  }
  for (const [path, value] of leaves(sources.overrides ?? {})) setPath(raw, path, value);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error, origin));
  const { dataDir } = parsed.data;
  return { ...parsed.data, dataDir: dataDir === 'memory://' ? dataDir : resolve(dataDir) };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`config file ${file} cannot be read: ${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(cause as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  return value as Record<string, unknown>;
}

function envNameToPath(name: string): string[] {
  return name
    .slice(ENV_PREFIX.length)
    .split('__')
    .map((segment) => segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
}

/** Leaf values with their paths; arrays are leaves. */
function* leaves(value: Record<string, unknown>, prefix: string[] = []): Generator<[string[], unknown]> {
  for (const [key, child] of Object.entries(value)) {
    if (typeof child === 'object' && child !== null && !Array.isArray(child)) yield* leaves(child as Record<string, unknown>, [...prefix, key]);
    else yield [[...prefix, key], child];
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function describeIssues(error: z.ZodError, origin: Map<string, string>): string {
  const parts = error.issues.flatMap((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    return keys.map((path) => {
      const key = path.join('.') || '(root)';
      const where = origin.get(key) ?? [...origin.entries()].find(([k]) => k.startsWith(`${key}.`))?.[1];
      const what = issue.code === 'unrecognized_keys' ? 'is not a known setting' : issue.message;
      return `${key}${where ? ` (${where})` : ''}: ${what}`;
    });
  });
  return `invalid configuration: ${parts.join('; ')}`;
}
