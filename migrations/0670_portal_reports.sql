-- Reports (issue 10): what happened to each credential the portal keeps
-- (cards, function certificates), written by triggers in the same transaction
-- as the change, and two summaries the reports read instead of the history:
-- counts per day (event report) and counts now (status report). The portal's
-- rules stay in its code; these triggers only record what the rows became.

create table portal_report_event (
  id bigint generated always as identity primary key,
  at timestamptz not null,
  organisation_hsa_id text not null,
  unit_hsa_id text,
  -- ordinary-card, reserve-card, test-card, function-certificate
  credential_type text not null,
  loa smallint,
  -- ordered, confirmed, in-production, produced, activated, revoked, withdrawn, issued
  event text not null,
  -- Revocations: the cause given for a card (lost, employment-ended, ...), the RFC 5280 reason for a function certificate.
  reason text,
  card_id bigint,
  certificate_serial text,
  -- The person concerned (cards): listings hide protected identities from those without the right.
  personnummer text,
  -- The card's service identity or the certificate's function object.
  subject_hsa_id text
);
-- Listings read an organisation's period in time order.
create index portal_report_event_organisation_at on portal_report_event (organisation_hsa_id, at);

-- Counts per Swedish calendar day: week, month, quarter and year are sums of days.
create table portal_report_event_day (
  organisation_hsa_id text not null,
  day date not null,
  unit_hsa_id text,
  credential_type text not null,
  loa smallint,
  event text not null,
  reason text,
  count bigint not null
);
create unique index portal_report_event_day_key on portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) nulls not distinct;

-- Counts of credentials per status now; function certificates past their end are counted as expired when read.
create table portal_report_status (
  organisation_hsa_id text not null,
  unit_hsa_id text,
  credential_type text not null,
  loa smallint,
  status text not null,
  reason text,
  count bigint not null
);
create unique index portal_report_status_key on portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) nulls not distinct;
-- Function certificates that expired (or will), per organisation: the status and event reports count them by date.
create index portal_function_certificate_expiry on portal_function_certificate (organisation_hsa_id, not_after) include (revoked_at);

-- A card's revocation requests: the triggers and the listings look up the latest one per card.
create index portal_revocation_card on portal_revocation (card_id, id);

create function portal_report_status_add(o text, u text, t text, l smallint, s text, r text, n bigint) returns void language sql as $$
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    values (o, u, t, l, s, r, n)
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count
$$;

-- Backfill the history from what the rows already say, before the triggers exist.
insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, reason, card_id, personnummer, subject_hsa_id)
select e.at, c.organisation_hsa_id, c.unit_hsa_id, c.kind || '-card', c.loa, e.event, e.reason, c.id, c.personnummer, c.holder_hsa_id
  from portal_card c
  left join portal_production_batch b on b.id = c.batch_id
  cross join lateral (values
    (c.ordered_at, 'ordered', null::text),
    (c.confirmed_at, 'confirmed', null),
    (b.exported_at, 'in-production', null),
    (case when c.card_number is not null then b.returned_at end, 'produced', null),
    (c.activated_at, 'activated', null),
    (c.withdrawn_at, 'withdrawn', null),
    ((select r.registered_at from portal_revocation r where r.card_id = c.id order by r.id desc limit 1), case when c.status = 'revoked' then 'revoked' end,
     (select r.reason from portal_revocation r where r.card_id = c.id order by r.id desc limit 1))
  ) as e (at, event, reason)
 where e.at is not null and e.event is not null;
insert into portal_report_event (at, organisation_hsa_id, credential_type, event, reason, certificate_serial, subject_hsa_id)
select e.at, f.organisation_hsa_id, 'function-certificate', e.event, e.reason, f.serial, f.function_object_hsa_id
  from portal_function_certificate f
  cross join lateral (values (f.ordered_at, 'issued', null::text), (f.revoked_at, 'revoked', f.revocation_reason)) as e (at, event, reason)
 where e.at is not null;
insert into portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason, count)
select organisation_hsa_id, (at at time zone 'Europe/Stockholm')::date, unit_hsa_id, credential_type, loa, event, reason, count(*)
  from portal_report_event group by 1, 2, 3, 4, 5, 6, 7;
insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
select c.organisation_hsa_id, c.unit_hsa_id, c.kind || '-card', c.loa, c.status,
       case when c.status = 'revoked' then (select r.reason from portal_revocation r where r.card_id = c.id order by r.id desc limit 1) end, count(*)
  from portal_card c group by 1, 2, 3, 4, 5, 6;
insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
select organisation_hsa_id, null::text, 'function-certificate', null::smallint, case when revoked_at is null then 'active' else 'revoked' end, revocation_reason, count(*)
  from portal_function_certificate group by 1, 2, 3, 4, 5, 6;

create function portal_report_event_counted() returns trigger language plpgsql as $$
begin
  insert into portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason, count)
    values (new.organisation_hsa_id, (new.at at time zone 'Europe/Stockholm')::date, new.unit_hsa_id, new.credential_type, new.loa, new.event, new.reason, 1)
    on conflict (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) do update set count = portal_report_event_day.count + 1;
  return null;
end
$$;
create trigger portal_report_event_counted after insert on portal_report_event for each row execute function portal_report_event_counted();

-- The cause of a revoked card: its latest revocation request (registered in the same transaction, before the card is marked).
create function portal_report_card_reason(card bigint, status text) returns text language sql stable as $$
  select case when status = 'revoked' then (select r.reason from portal_revocation r where r.card_id = card order by r.id desc limit 1) end
$$;

create function portal_report_card_changed() returns trigger language plpgsql as $$
declare
  new_reason text := portal_report_card_reason(new.id, new.status);
  what text;
begin
  if tg_op = 'INSERT' then
    what := 'ordered';
  else
    if (old.organisation_hsa_id, old.unit_hsa_id, old.kind, old.loa, old.status) is not distinct from (new.organisation_hsa_id, new.unit_hsa_id, new.kind, new.loa, new.status) then
      return null;
    end if;
    perform portal_report_status_add(old.organisation_hsa_id, old.unit_hsa_id, old.kind || '-card', old.loa, old.status, portal_report_card_reason(old.id, old.status), -1);
    if new.status is distinct from old.status then
      what := case new.status when 'ordered' then 'confirmed' when 'in-production' then 'in-production' when 'sent' then 'produced'
                when 'active' then 'activated' when 'revoked' then 'revoked' when 'withdrawn' then 'withdrawn' else new.status end;
    end if;
  end if;
  perform portal_report_status_add(new.organisation_hsa_id, new.unit_hsa_id, new.kind || '-card', new.loa, new.status, new_reason, 1);
  if what is not null then
    insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, reason, card_id, personnummer, subject_hsa_id)
      values (case when tg_op = 'INSERT' then new.ordered_at else new.updated_at end, new.organisation_hsa_id, new.unit_hsa_id, new.kind || '-card', new.loa, what,
              new_reason, new.id, new.personnummer, new.holder_hsa_id);
  end if;
  return null;
end
$$;
create trigger portal_report_card_changed after insert or update on portal_card for each row execute function portal_report_card_changed();

create function portal_report_function_certificate_changed() returns trigger language plpgsql as $$
begin
  if tg_op = 'INSERT' then
    insert into portal_report_event (at, organisation_hsa_id, credential_type, event, certificate_serial, subject_hsa_id)
      values (new.ordered_at, new.organisation_hsa_id, 'function-certificate', 'issued', new.serial, new.function_object_hsa_id);
  elsif old.revoked_at is null and new.revoked_at is not null then
    perform portal_report_status_add(old.organisation_hsa_id, null, 'function-certificate', null, 'active', null, -1);
    insert into portal_report_event (at, organisation_hsa_id, credential_type, event, reason, certificate_serial, subject_hsa_id)
      values (new.revoked_at, new.organisation_hsa_id, 'function-certificate', 'revoked', new.revocation_reason, new.serial, new.function_object_hsa_id);
  else
    return null;
  end if;
  perform portal_report_status_add(new.organisation_hsa_id, null, 'function-certificate', null, case when new.revoked_at is null then 'active' else 'revoked' end, new.revocation_reason, 1);
  return null;
end
$$;
create trigger portal_report_function_certificate_changed after insert or update of revoked_at on portal_function_certificate
  for each row execute function portal_report_function_certificate_changed();
