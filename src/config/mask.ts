import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

const MASK = '***';

/** The config with every value marked `secret` replaced; a URL keeps all but its password. */
export function maskSecrets(config: Config): unknown {
  return walk(configSchema, config);
}

function walk(schema: z.ZodType, value: unknown): unknown {
  if (value === undefined || value === null) return value;
  if (schema.meta()?.['secret']) return maskValue(value);
  const def = schema._zod.def as unknown as { type: string; innerType?: z.ZodType; in?: z.ZodType; shape?: Record<string, z.ZodType> };
  if (def.innerType) return walk(def.innerType, value);
  if (def.type === 'pipe' && def.in) return walk(def.in, value);
  if (def.type === 'object' && def.shape && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, child]) => [key, def.shape![key] ? walk(def.shape![key], child) : child]),
    );
  }
  return value;
}

function maskValue(value: unknown): string {
  if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    try {
      const url = new URL(value);
      if (url.password) url.password = MASK;
      if (url.username && !url.password) url.username = MASK;
      return url.toString();
    } catch {
      return MASK;
    }
  }
  return MASK;
}
