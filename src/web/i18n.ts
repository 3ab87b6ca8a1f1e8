import type { FastifyRequest } from 'fastify';

export const LOCALES = ['sv', 'en'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'sv';
export const LOCALE_COOKIE = 'tillit_lang';

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (LOCALES as readonly string[]).includes(value);
}

/**
 * The page language: an explicit `?lang=` switch wins, then the cookie the
 * switch set, then the browser's Accept-Language; Swedish otherwise.
 */
export function pickLocale(request: Pick<FastifyRequest, 'query' | 'headers'>): Locale {
  const query = request.query as Record<string, unknown> | undefined;
  if (isLocale(query?.['lang'])) return query['lang'];
  const cookie = readCookie(request.headers.cookie, LOCALE_COOKIE);
  if (isLocale(cookie)) return cookie;
  return fromAcceptLanguage(request.headers['accept-language']);
}

export function fromAcceptLanguage(header: string | undefined): Locale {
  if (!header) return DEFAULT_LOCALE;
  const ranked = header
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { language: tag.trim().toLowerCase().split('-')[0]!, q: q ? Number(q.slice(2)) : 1 };
    })
    .filter((entry) => entry.q > 0 && !Number.isNaN(entry.q))
    .sort((a, b) => b.q - a.q);
  return ranked.map((entry) => entry.language).find(isLocale) ?? DEFAULT_LOCALE;
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const [key, ...rest] = pair.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}
