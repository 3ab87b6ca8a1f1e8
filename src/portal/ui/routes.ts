import { parse as parseForm } from 'node:querystring';
import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as client from 'openid-client';
import { rememberLocale, sendPage } from '../../server/index.ts';
import type { EphemeralStore } from '../../store/index.ts';
import { loadActor, type Principal } from '../access.ts';
import type { CardContext } from '../cards/context.ts';
import type { CardKind, Loa } from '../cards/eligibility.ts';
import { handOutAndActivate } from '../cards/handout.ts';
import { SEVEN_STEPS, type DocumentType, type IdentityStep } from '../cards/identity-check.ts';
import { confirmReserve, orderCard, withdrawOrder } from '../cards/orders.ts';
import { exportBatch, importReturn, type BatchSigner } from '../cards/production.ts';
import { registerRevocation, type RevocationCause, type RevocationChannel } from '../cards/revocation.ts';
import { cancelUnlockLogin, startCardUnlock, unlockableCard, unlockCard, unlockLoginStatus } from '../cards/unlock.ts';
import type { Card } from '../cards/store.ts';
import { qrDataUrl } from '../function/ui.ts';
import { qrContent } from '../../authn/index.ts';
import { HTTP_STATUS, PortalRefused } from '../errors.ts';
import type { PortalRelyingParty } from '../idp.ts';
import { roleRemovalSuggestions } from '../jobs/stale-roles.ts';
import { searchPeople, unknownHolderCertificates, viewPerson } from '../person-view.ts';
import type { Actor } from '../roles.ts';
import { messages } from './messages.ts';
import { homePage, personPage, productionPage, searchPage, signInPage, unknownHoldersPage, unlockPage, unlockResponsePage, type UnlockHint, type UnlockState } from './pages.ts';
import { csrfMatches, portalSessions, type PendingUnlock, type PortalSession } from './session.ts';

export interface UiDependencies {
  readonly cards: CardContext;
  readonly ephemeral: EphemeralStore;
  readonly signer: () => Promise<BatchSigner>;
  readonly relyingParty: PortalRelyingParty;
  readonly idleMs: number;
}

const LOGIN_TTL_MS = 10 * 60_000;
/** The login page's poll script (QR refresh and status), served for the unlock page. */
const MAX_SESSION_MS = 12 * 3_600_000;
type Form = Record<string, string | string[] | undefined>;
const one = (form: Form, name: string): string => {
  const value = form[name];
  return typeof value === 'string' ? value : '';
};

/** A wall-clock time in Sweden (datetime-local, no zone) as an instant. */
export function swedishLocalTime(value: string): Date {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value);
  if (!match) throw new PortalRefused('invalid', 'the time is a date and time like 2026-05-01T08:30');
  const [y, mo, d, h, mi, s] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const guess = Date.UTC(y, mo - 1, d, h, mi, s);
  const offsetAt = (instant: number) => {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Stockholm', hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
        .formatToParts(new Date(instant))
        .map((p) => [p.type, p.value]),
    );
    return Date.UTC(+parts['year']!, +parts['month']! - 1, +parts['day']!, +parts['hour']!, +parts['minute']!, +parts['second']!) - instant;
  };
  const first = guess - offsetAt(guess);
  return new Date(guess - offsetAt(first));
}

/**
 * The portal's pages: sign-in through Tillit's IdP, person search and view,
 * ordering, four eyes, production, hand-out with the identity check and
 * revocation. Every post carries the session's CSRF token and redirects back
 * (post/redirect/get) with the outcome; every page and post loads the
 * administrator's roles anew, so a removed role takes effect at once.
 */
export function uiRoutes(deps: UiDependencies) {
  const sessions = portalSessions(deps.ephemeral, deps.idleMs, MAX_SESSION_MS, () => deps.cards.now().getTime());
  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 24 * 1024 * 1024 }, (_request, body, done) => done(null, parseForm(body as string)));
    await app.register(multipart, { limits: { fileSize: deps.cards.config.photoMaxBytes, files: 1, fields: 20, fieldSize: 1000 } });

    const actorOf = (session: PortalSession) => loadActor(deps.cards.db, session.hsaId, deps.cards.now(), deps.cards.config.trainingValidForDays);
    const frame = <S extends PortalSession | null>(request: FastifyRequest, reply: FastifyReply, session: S) => ({ locale: rememberLocale(request, reply), currentUrl: request.url, session });

    /** A page for a signed-in administrator; the flash message is shown once. */
    const view = (render: (ctx: { request: FastifyRequest; reply: FastifyReply; session: PortalSession; actor: Actor }) => Promise<string>) => async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await sessions.read(request, reply);
      if (!found) return reply.redirect('/portal?expired=1', 303);
      const { id, session } = found;
      try {
        const body = await render({ request, reply, session, actor: await actorOf(session) });
        if (session.flash) await sessions.save(id, { ...session, flash: undefined });
        return sendPage(reply, body);
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        reply.code(HTTP_STATUS[error.kind]);
        return sendPage(reply, signInPage(frame(request, reply, { ...session, flash: { kind: 'error', text: error.message } }), null));
      }
    };

    /** A form post: session, CSRF token, then the action; the outcome goes back as a flash message. */
    const action = (work: (ctx: { request: FastifyRequest; form: Form; actor: Actor; session: PortalSession }) => Promise<{ back: string; text: string | null; session?: Partial<PortalSession> }>, fallback: (request: FastifyRequest, form: Form) => Promise<string>) => async (request: FastifyRequest, reply: FastifyReply) => {
      const found = await sessions.read(request, reply);
      if (!found) return reply.redirect('/portal?expired=1', 303);
      const { id, session } = found;
      const t = messages(rememberLocale(request, reply));
      let form: Form = {};
      let photo: Buffer | null = null;
      try {
        if (request.isMultipart()) {
          for await (const part of request.parts()) {
            if (part.type === 'file') {
              const bytes = await part.toBuffer().catch(() => {
                throw new PortalRefused('invalid', `the photo is larger than ${deps.cards.config.photoMaxBytes} bytes`);
              });
              photo = bytes.length ? bytes : null;
            } else form[part.fieldname] = String(part.value);
          }
        } else form = (request.body ?? {}) as Form;
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        await sessions.save(id, { ...session, flash: { kind: 'error', text: error.message } });
        return reply.redirect(await fallback(request, form), 303);
      }
      if (!csrfMatches(session, form['_csrf'])) {
        request.log.info({ decision: 'portal csrf refused', actor: session.hsaId, url: request.url }, 'form post without the session token');
        reply.code(403);
        return sendPage(reply, signInPage(frame(request, reply, session), t('forged')));
      }
      if (photo) form['__photo'] = photo.toString('base64');
      try {
        const { back, text, session: changed } = await work({ request, form, actor: await actorOf(session), session });
        await sessions.save(id, { ...session, ...changed, flash: text === null ? undefined : { kind: 'ok', text } });
        return reply.redirect(back, 303);
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        if (error.kind === 'forbidden') request.log.info({ decision: 'portal forbidden', actor: session.hsaId, url: request.url }, error.message);
        await sessions.save(id, { ...session, flash: { kind: 'error', text: error.message } });
        return reply.redirect(await fallback(request, form), 303);
      }
    };

    const organisationsOf = (actor: Actor) => [...new Set(actor.assignments.filter((a) => a.role === 'responsible-issuer' || a.role === 'deputy-issuer').map((a) => a.organisation))];

    app.get('/portal', async (request, reply) => {
      const found = await sessions.read(request, reply);
      const t = messages(rememberLocale(request, reply));
      if (!found) return sendPage(reply, signInPage(frame(request, reply, null), (request.query as Record<string, string>)['expired'] ? t('expired') : null));
      return view(async (ctx) => {
        // The issuers see the role removals the portal-stale-roles job suggests in their organisations.
        const removals = (await Promise.all(organisationsOf(ctx.actor).map((organisation) => roleRemovalSuggestions(deps.cards.db, ctx.actor, organisation).catch((error: unknown) => {
              if (error instanceof PortalRefused) return [];
              throw error;
            })))).flat();
        return homePage(frame(ctx.request, ctx.reply, ctx.session), ctx.actor, removals);
      })(request, reply);
    });

    app.get('/portal/login', async (_request, reply) => {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      await deps.ephemeral.set(`portal:login:${state}`, JSON.stringify({ verifier, nonce }), LOGIN_TTL_MS);
      const url = client.buildAuthorizationUrl(await deps.relyingParty.configuration(), {
        redirect_uri: deps.relyingParty.redirectUri,
        scope: 'openid profile employee',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      return reply.redirect(url.href, 303);
    });

    app.get('/portal/callback', async (request, reply) => {
      const current = new URL(request.url, deps.relyingParty.redirectUri);
      const state = current.searchParams.get('state') ?? '';
      const pending = /^[A-Za-z0-9_-]{16,100}$/.test(state) ? await deps.ephemeral.take(`portal:login:${state}`) : null;
      if (!pending || current.searchParams.get('error')) return reply.redirect('/portal', 303);
      const { verifier, nonce } = JSON.parse(pending) as { verifier: string; nonce: string };
      const tokens = await client.authorizationCodeGrant(await deps.relyingParty.configuration(), current, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      const claims: Record<string, unknown> = tokens.claims() ?? {};
      const hsaId = typeof claims['employeeHsaId'] === 'string' ? claims['employeeHsaId'] : null;
      if (!hsaId) return sendPage(reply.code(403), signInPage(frame(request, reply, null), messages(rememberLocale(request, reply))('noRoles')));
      await sessions.start(reply, hsaId, typeof claims['name'] === 'string' ? claims['name'] : hsaId);
      return reply.redirect('/portal', 303);
    });

    app.post('/portal/logout', async (request, reply) => {
      const found = await sessions.read(request, reply);
      if (found && csrfMatches(found.session, ((request.body ?? {}) as Form)['_csrf'])) await sessions.end(request, reply);
      return reply.redirect('/portal', 303);
    });

    app.get(
      '/portal/persons',
      view(async ({ request, reply, session, actor }) => {
        const query = String((request.query as Record<string, unknown>)['q'] ?? '').slice(0, 100);
        const hits = query.trim().length >= 2 ? await searchPeople(deps.cards.db, actor, query) : [];
        return searchPage(frame(request, reply, session), query, hits);
      }),
    );

    app.get(
      '/portal/persons/:personnummer',
      view(async ({ request, reply, session, actor }) => {
        const { personnummer } = request.params as { personnummer: string };
        if (!/^\d{12}$/.test(personnummer)) throw new PortalRefused('not-found', 'a personnummer has 12 digits');
        return personPage(frame(request, reply, session), await viewPerson(deps.cards.db, deps.cards.pki, actor, personnummer, deps.cards.mobileEidsOf));
      }),
    );

    const personOf = (form: Form) => `/portal/persons/${/^\d{12}$/.test(one(form, 'personnummer')) ? one(form, 'personnummer') : ''}`;
    const cardId = (request: FastifyRequest) => {
      const id = Number((request.params as { id: string }).id);
      if (!Number.isSafeInteger(id) || id < 1) throw new PortalRefused('not-found', 'no such card');
      return id;
    };
    /** After a refusal the administrator goes back to the page they came from: the card's person, or the person ordered for. */
    const backToCard = async (request: FastifyRequest) => {
      const id = Number((request.params as { id: string }).id);
      return cardPage(Number.isSafeInteger(id) && id > 0 ? id : null);
    };
    const backToPerson = async (_request: FastifyRequest, form: Form) => personOf(form);
    const backToUnlock = async (request: FastifyRequest) => {
      const id = Number((request.params as { id: string }).id);
      return Number.isSafeInteger(id) && id > 0 ? `/portal/cards/${id}/unlock` : '/portal';
    };
    const cardPage = async (id: number | null) => {
      if (id === null) return '/portal';
      const [row] = await deps.cards.db.query<{ personnummer: string }>('select personnummer from portal_card where id = $1', [id]);
      return row ? `/portal/persons/${row.personnummer}` : '/portal';
    };

    app.post(
      '/portal/orders',
      action(async ({ form, actor }) => {
        const kind = one(form, 'kind') as CardKind;
        const loa = one(form, 'loa') === '' ? null : (Number(one(form, 'loa')) as Loa);
        const photo = form['__photo'] ? Buffer.from(one(form, '__photo'), 'base64') : null;
        const { card, stock } = await orderCard(deps.cards, actor, { kind, loa, holder: one(form, 'holder'), photo, office: one(form, 'office') || null });
        return { back: personOf(form), text: `${card.id}: ${card.status}${stock?.low ? ` — ${stock.remaining} reserve cards left at ${stock.office}` : ''}` };
      }, backToPerson),
    );
    app.post('/portal/orders/:id/confirm', action(async ({ request, actor }) => ({ back: await cardPage(cardId(request)), text: `${(await confirmReserve(deps.cards, actor, cardId(request))).id}: ordered` }), backToCard));
    app.post('/portal/orders/:id/withdraw', action(async ({ request, actor }) => ({ back: await cardPage(cardId(request)), text: `${(await withdrawOrder(deps.cards, actor, cardId(request))).id}: withdrawn` }), backToCard));

    app.post(
      '/portal/cards/:id/hand-out',
      action(async ({ request, form, actor }) => {
        const id = cardId(request);
        const done = new Set([form['step'] ?? []].flat());
        const steps = Object.fromEntries(SEVEN_STEPS.map((s) => [s, done.has(s)])) as Record<IdentityStep, boolean>;
        const card = await handOutAndActivate(deps.cards, actor, {
          cardId: id,
          cardNumber: one(form, 'cardNumber'),
          personnummer: one(form, 'personnummer'),
          check: { documentType: one(form, 'documentType') as DocumentType, documentNumber: one(form, 'documentNumber'), documentExpiresOn: one(form, 'documentExpiresOn'), steps },
        });
        return { back: await cardPage(id), text: `${card.id}: ${card.status}` };
      }, backToCard),
    );

    const ordersFor = () => {
      if (!deps.cards.orders) throw new PortalRefused('conflict', 'card unlock needs the authentication service (part authn) to run');
      return deps.cards.orders;
    };
    // Unlock at the desk: the holder's login is kept in the administrator's session (one at a time), so no order reference is ever typed.
    const unlockBase = (id: number) => `/portal/cards/${id}/unlock`;
    const pendingUnlock = (session: PortalSession, id: number) => (session.unlock?.cardId === id ? session.unlock : undefined);
    const unlockState = async (pending: PendingUnlock | undefined, card: Card): Promise<UnlockState> => {
      if (!pending) return { step: 'start' };
      const login = await unlockLoginStatus(ordersFor(), pending.orderRef);
      if (!login) return { step: 'failed', hint: 'unlockHint.expiredTransaction' };
      if (login.status === 'pending') {
        const seconds = Math.max(0, Math.floor((deps.cards.now().getTime() - pending.startedAt) / 1000));
        return {
          step: 'pending',
          qr: qrDataUrl(qrContent(pending.qrStartToken, pending.qrStartSecret, seconds)),
          autoStartLink: `tillit-eid:///?autostarttoken=${encodeURIComponent(pending.autoStartToken)}&redirect=${encodeURIComponent(unlockBase(card.id))}`,
          hint: login.hintCode === 'started' || login.hintCode === 'userSign' ? 'unlockHint.started' : 'unlockHint.pending',
        };
      }
      if (login.status === 'failed') return { step: 'failed', hint: (['userCancel', 'certificateErr', 'expiredTransaction'] as const).find((h) => h === login.hintCode) ? (`unlockHint.${login.hintCode}` as UnlockHint) : 'unlockHint.failed' };
      const user = login.completionData.user;
      return { step: 'approved', name: user.name ?? `${user.givenName ?? ''} ${user.surname ?? ''}`.trim(), personnummer: user.personalIdentityNumber ?? '', holderMatches: user.personalIdentityNumber === card.personnummer };
    };
    app.get(
      '/portal/cards/:id/unlock',
      view(async ({ request, reply, session, actor }) => {
        const card = await unlockableCard(deps.cards, actor, cardId(request));
        return unlockPage(frame(request, reply, session), card, await unlockState(pendingUnlock(session, card.id), card));
      }),
    );
    /** The page's script polls this every second: a fresh QR code and the hint while pending, then back to the page. */
    app.get('/portal/cards/:id/unlock/status', async (request, reply) => {
      reply.header('cache-control', 'no-store');
      const found = await sessions.read(request, reply);
      if (!found) return reply.code(401).send({ status: 'gone', next: '/portal?expired=1' });
      try {
        const card = await unlockableCard(deps.cards, await actorOf(found.session), cardId(request));
        const state = await unlockState(pendingUnlock(found.session, card.id), card);
        if (state.step === 'pending') return { status: 'pending', qr: state.qr, hint: messages(rememberLocale(request, reply))(state.hint) };
        return { status: state.step, next: unlockBase(card.id) };
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        return reply.code(HTTP_STATUS[error.kind]).send({ status: 'refused', next: '/portal' });
      }
    });
    app.post(
      '/portal/cards/:id/unlock/login',
      action(async ({ request, actor, session }) => {
        const id = cardId(request);
        const previous = session.unlock;
        const tokens = await startCardUnlock(deps.cards, ordersFor(), actor, id, request.ip);
        if (previous) await cancelUnlockLogin(ordersFor(), previous.orderRef);
        return { back: unlockBase(id), text: null, session: { unlock: { cardId: id, ...tokens, startedAt: deps.cards.now().getTime() } } };
      }, backToUnlock),
    );
    app.post(
      '/portal/cards/:id/unlock/cancel',
      action(async ({ request, session }) => {
        const id = cardId(request);
        const pending = pendingUnlock(session, id);
        if (pending) await cancelUnlockLogin(ordersFor(), pending.orderRef);
        return { back: unlockBase(id), text: null, session: { unlock: undefined } };
      }, backToUnlock),
    );
    app.post('/portal/cards/:id/unlock', async (request, reply) => {
      // The response is shown once, on the answer to the post (it is not kept).
      const found = await sessions.read(request, reply);
      if (!found) return reply.redirect('/portal?expired=1', 303);
      const form = (request.body ?? {}) as Form;
      if (!csrfMatches(found.session, form['_csrf'])) return sendPage(reply.code(403), signInPage(frame(request, reply, found.session), messages(rememberLocale(request, reply))('forged')));
      const back = await backToUnlock(request);
      try {
        const id = cardId(request);
        const pending = pendingUnlock(found.session, id);
        if (!pending) throw new PortalRefused('conflict', "the holder has not logged in for this unlock: start the holder's login first");
        const actor = await actorOf(found.session);
        const { response } = await unlockCard(deps.cards, ordersFor(), actor, { cardId: id, orderRef: pending.orderRef, challenge: one(form, 'challenge').trim() });
        await sessions.save(found.id, { ...found.session, unlock: undefined });
        return sendPage(reply, unlockResponsePage(frame(request, reply, found.session), await unlockableCard(deps.cards, actor, id), response));
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        if (error.kind === 'forbidden') request.log.info({ decision: 'portal unlock refused', actor: found.session.hsaId, url: request.url }, error.message);
        await sessions.save(found.id, { ...found.session, flash: { kind: 'error', text: error.message } });
        return reply.redirect(back, 303);
      }
    });

    app.post(
      '/portal/cards/:id/revocations',
      action(async ({ request, form, actor }) => {
        const id = cardId(request);
        const registered = await registerRevocation(deps.cards, actor, {
          cardId: id,
          serials: [],
          reportedBy: one(form, 'reportedBy'),
          channel: one(form, 'channel') as RevocationChannel,
          receivedAt: swedishLocalTime(one(form, 'receivedAt')),
          cause: one(form, 'cause') as RevocationCause,
          note: one(form, 'note') || null,
        });
        return { back: await cardPage(id), text: `${registered.card.id}: revoked (${registered.serials.length})` };
      }, backToCard),
    );

    app.get(
      '/portal/unknown-holders',
      view(async ({ request, reply, session, actor }) => {
        // Every organisation the administrator holds a role in; `unknownHolderCertificates` checks revocation.register per card.
        const organisations = [...new Set(actor.assignments.map((a) => a.organisation))];
        const found = await Promise.all(organisations.map(async (organisation) => ({ organisation, certificates: await unknownHolderCertificates(deps.cards.db, actor, organisation, deps.cards.now()) })));
        return unknownHoldersPage(frame(request, reply, session), found);
      }),
    );
    app.get('/portal/production', view(async ({ request, reply, session, actor }) => productionPage(frame(request, reply, session), organisationsOf(actor), null)));
    app.post('/portal/production/batches', async (request, reply) => {
      // The batch is shown once, on the answer to the post (it is not kept).
      const found = await sessions.read(request, reply);
      if (!found) return reply.redirect('/portal?expired=1', 303);
      const form = (request.body ?? {}) as Form;
      if (!csrfMatches(found.session, form['_csrf'])) return sendPage(reply.code(403), signInPage(frame(request, reply, found.session), messages(rememberLocale(request, reply))('forged')));
      const actor: Principal = await actorOf(found.session);
      try {
        const batch = await exportBatch(deps.cards, actor, one(form, 'organisation'), await deps.signer());
        return sendPage(reply.code(201), productionPage(frame(request, reply, found.session), organisationsOf(actor as Actor), batch));
      } catch (error) {
        if (!(error instanceof PortalRefused)) throw error;
        await sessions.save(found.id, { ...found.session, flash: { kind: 'error', text: error.message } });
        return reply.redirect('/portal/production', 303);
      }
    });
    app.post(
      '/portal/production/returns',
      action(async ({ form, actor }) => {
        const result = await importReturn(deps.cards, actor, one(form, 'content'));
        return { back: '/portal/production', text: `batch ${result.batchId}: ${result.produced.length} card(s) sent` };
      }, async () => '/portal/production'),
    );
  };
}
