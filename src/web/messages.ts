import type { Locale } from './i18n.ts';

const sv = {
  'site.name': 'Tillit',
  'site.tagline': 'E-legitimation för vård och omsorg',
  'nav.skip': 'Hoppa till innehållet',
  'nav.language': 'Språk',
  'nav.otherLanguage': 'In English',
  'start.title': 'Start',
  'start.intro': 'Den här installationen kör följande delar.',
  'start.region': 'Region',
  'start.parts': 'Delar som körs',
  'start.operations': 'Drift',
  'start.health': 'Hälsa (lever processen?)',
  'start.ready': 'Redo (databas och migreringar)',
  'start.metrics': 'Mätvärden (Prometheus)',
  'start.noParts': 'Inga delar är påslagna.',
  'error.notFound.title': 'Sidan finns inte',
  'error.notFound.body': 'Kontrollera adressen eller gå till startsidan.',
  'error.internal.title': 'Något gick fel',
  'error.internal.body': 'Försök igen om en stund. Ange referensen om du kontaktar supporten.',
  'error.badRequest.title': 'Felaktig begäran',
  'error.reference': 'Referens',
  'error.backToStart': 'Till startsidan',
} as const;

export type MessageKey = keyof typeof sv;

const en: Record<MessageKey, string> = {
  'site.name': 'Tillit',
  'site.tagline': 'E-identity for health and social care',
  'nav.skip': 'Skip to content',
  'nav.language': 'Language',
  'nav.otherLanguage': 'På svenska',
  'start.title': 'Start',
  'start.intro': 'This installation runs the following parts.',
  'start.region': 'Region',
  'start.parts': 'Running parts',
  'start.operations': 'Operations',
  'start.health': 'Health (is the process alive?)',
  'start.ready': 'Ready (database and migrations)',
  'start.metrics': 'Metrics (Prometheus)',
  'start.noParts': 'No parts are enabled.',
  'error.notFound.title': 'Page not found',
  'error.notFound.body': 'Check the address or go to the start page.',
  'error.internal.title': 'Something went wrong',
  'error.internal.body': 'Please try again in a moment. Quote the reference if you contact support.',
  'error.badRequest.title': 'Bad request',
  'error.reference': 'Reference',
  'error.backToStart': 'Back to the start page',
};

export type Translate<K extends string = MessageKey> = (key: K) => string;

/**
 * A message catalogue: Swedish defines the keys and English must have every
 * one of them, so a missing translation is a type error, not a blank on a page.
 * Each part defines its own with this.
 */
export function defineMessages<K extends string>(catalogues: Record<Locale, Record<K, string>>): (locale: Locale) => Translate<K> {
  return (locale) => (key) => catalogues[locale][key];
}

/** The messages of the page frame and the start page. */
export const translator = defineMessages<MessageKey>({ sv, en });
