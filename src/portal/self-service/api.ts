import { z } from 'zod';
import { isOperator } from '../access.ts';
import type { ApiDependencies, ApiRoute } from '../api/routes.ts';
import { PortalRefused } from '../errors.ts';
import type { Principal } from '../access.ts';
import { extendMyReserveCard, myEids, reportMyCardLost } from './mine.ts';
import { myMobileEids, reportMyMobileEidLost, startMyEnrolment, type MobileSelfServiceContext } from './mobile.ts';

const cardParams = z.strictObject({ id: z.coerce.number().int().positive().describe('the card id, as my eIDs lists it') });
const serialParams = z.strictObject({ serial: z.string().regex(/^[0-9a-fA-F]{1,64}$/, 'a certificate serial in hex').describe('the mobile eID certificate serial, as my mobile eIDs lists it') });
const mobile = (d: ApiDependencies): MobileSelfServiceContext => ({ ...d.cards, enrolment: d.enrolment });
const me = (actor: Principal) => {
  if (isOperator(actor)) throw new PortalRefused('forbidden', 'self-service is for a signed-in eID holder');
  return actor.hsaId;
};

/** "Mina sidor" in the portal API: the caller's own eIDs; no portal role needed, the eID must be the caller's. */
export const SELF_SERVICE_API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/mine/eids', summary: 'My eIDs (cards) and the status of their certificates', handle: async (_input, actor, d) => myEids(d.cards, me(actor)) },
  { method: 'POST', path: '/mine/cards/{id}/lost', summary: 'Report my card lost: revoked at once', params: cardParams, status: 201, handle: async ({ params }, actor, d) => reportMyCardLost(d.cards, me(actor), params.id) },
  { method: 'POST', path: '/mine/cards/{id}/extend', summary: 'Extend my reserve card (once)', params: cardParams, handle: async ({ params }, actor, d) => extendMyReserveCard(d.cards, me(actor), params.id) },
  { method: 'GET', path: '/mine/mobile-eids', summary: 'My mobile eIDs: active, revoked or expired', handle: async (_input, actor, d) => myMobileEids(mobile(d), me(actor)) },
  { method: 'POST', path: '/mine/mobile-eids/enrolment', summary: 'Start a mobile eID enrolment: a one-time code (and its QR content) for the eID app; refused at three active mobile eIDs', status: 201, handle: async (_input, actor, d) => startMyEnrolment(mobile(d), me(actor)) },
  { method: 'POST', path: '/mine/mobile-eids/{serial}/lost', summary: 'Report my mobile eID lost: revoked at once', params: serialParams, status: 201, handle: async ({ params }, actor, d) => reportMyMobileEidLost(mobile(d), me(actor), params.serial) },
];
