-- The report summaries are kept per statement instead of per row. A row
-- trigger added 1 to a summary row for each row written, and one transaction
-- adding to the same summary row many times walks all its own earlier versions
-- of that row at each step: a production batch of 40,000 cards took minutes.
-- Each trigger now reads the statement's rows from its transition tables,
-- counts them per summary row, and adds each count once. The rows are upserted
-- in key order, so concurrent statements lock the summary rows they share in
-- the same order and wait for each other instead of deadlocking. What the rows
-- became is recorded exactly as before (0670, 0671, 0673).
--
-- PostgreSQL allows transition tables only on single-event triggers without a
-- column list: inserts, updates and deletes have a trigger each, and an update
-- trigger keeps only the rows whose counted columns changed (old and new rows
-- joined on the key).

drop trigger portal_report_event_counted on portal_report_event;
drop function portal_report_event_counted();
drop trigger portal_report_card_changed on portal_card;
drop function portal_report_card_changed();
drop trigger portal_report_card_deleted on portal_card;
drop function portal_report_card_deleted();
drop trigger portal_report_function_certificate_changed on portal_function_certificate;
drop function portal_report_function_certificate_changed();
drop function portal_report_status_add(text, text, text, smallint, text, text, bigint);

create function portal_report_events_counted() returns trigger language plpgsql as $$
begin
  insert into portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason, count)
    select organisation_hsa_id, (at at time zone 'Europe/Stockholm')::date, unit_hsa_id, credential_type, loa, event, reason, count(*)
      from new_events group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
    on conflict (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) do update set count = portal_report_event_day.count + excluded.count;
  insert into portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason, count)
    select organisation_hsa_id, date_trunc('month', (at at time zone 'Europe/Stockholm')::date)::date, unit_hsa_id, credential_type, loa, event, reason, count(*)
      from new_events group by 1, 2, 3, 4, 5, 6, 7 order by 1, 2, 3, 4, 5, 6, 7
    on conflict (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason) do update set count = portal_report_event_month.count + excluded.count;
  return null;
end
$$;
create trigger portal_report_events_counted after insert on portal_report_event referencing new table as new_events
  for each statement execute function portal_report_events_counted();

create function portal_report_cards_ordered() returns trigger language plpgsql as $$
begin
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    select organisation_hsa_id, unit_hsa_id, kind || '-card', loa, status, portal_report_card_reason(id, status), count(*)
      from new_cards group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count;
  insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, reason, card_id, personnummer, subject_hsa_id)
    select ordered_at, organisation_hsa_id, unit_hsa_id, kind || '-card', loa, 'ordered', portal_report_card_reason(id, status), id, personnummer, holder_hsa_id
      from new_cards order by id;
  return null;
end
$$;
create trigger portal_report_cards_ordered after insert on portal_card referencing new table as new_cards
  for each statement execute function portal_report_cards_ordered();

-- A card leaves its old summary row and joins its new one when its organisation, unit, type, LoA or status changes;
-- a card moved one way and another the other way in the same statement cancel out.
create function portal_report_cards_changed() returns trigger language plpgsql as $$
begin
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    select m.organisation_hsa_id, m.unit_hsa_id, m.kind || '-card', m.loa, m.status, portal_report_card_reason(m.id, m.status), sum(m.n)
      from old_cards o join new_cards c on c.id = o.id
           cross join lateral (values (o.id, o.organisation_hsa_id, o.unit_hsa_id, o.kind, o.loa, o.status, -1), (c.id, c.organisation_hsa_id, c.unit_hsa_id, c.kind, c.loa, c.status, 1))
             as m (id, organisation_hsa_id, unit_hsa_id, kind, loa, status, n)
     where (o.organisation_hsa_id, o.unit_hsa_id, o.kind, o.loa, o.status) is distinct from (c.organisation_hsa_id, c.unit_hsa_id, c.kind, c.loa, c.status)
     group by 1, 2, 3, 4, 5, 6 having sum(n) <> 0 order by 1, 2, 3, 4, 5, 6
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count;
  insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, reason, card_id, personnummer, subject_hsa_id)
    select c.updated_at, c.organisation_hsa_id, c.unit_hsa_id, c.kind || '-card', c.loa,
           case c.status when 'ordered' then 'confirmed' when 'in-production' then 'in-production' when 'sent' then 'produced'
             when 'active' then 'activated' when 'revoked' then 'revoked' when 'withdrawn' then 'withdrawn' else c.status end,
           portal_report_card_reason(c.id, c.status), c.id, c.personnummer, c.holder_hsa_id
      from old_cards o join new_cards c on c.id = o.id
     where c.status is distinct from o.status
     order by c.id;
  return null;
end
$$;
create trigger portal_report_cards_changed after update on portal_card referencing old table as old_cards new table as new_cards
  for each statement execute function portal_report_cards_changed();

create function portal_report_cards_deleted() returns trigger language plpgsql as $$
begin
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    select organisation_hsa_id, unit_hsa_id, kind || '-card', loa, status, portal_report_card_reason(id, status), -count(*)
      from old_cards group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count;
  insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, card_id, personnummer, subject_hsa_id)
    select now(), organisation_hsa_id, unit_hsa_id, kind || '-card', loa, 'deleted', id, personnummer, holder_hsa_id
      from old_cards order by id;
  return null;
end
$$;
create trigger portal_report_cards_deleted after delete on portal_card referencing old table as old_cards
  for each statement execute function portal_report_cards_deleted();

create function portal_report_function_certificates_issued() returns trigger language plpgsql as $$
begin
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    select organisation_hsa_id, null::text, 'function-certificate', null::smallint, case when revoked_at is null then 'active' else 'revoked' end, revocation_reason, count(*)
      from new_certificates group by 1, 2, 3, 4, 5, 6 order by 1, 2, 3, 4, 5, 6
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count;
  insert into portal_report_event (at, organisation_hsa_id, credential_type, event, certificate_serial, subject_hsa_id)
    select ordered_at, organisation_hsa_id, 'function-certificate', 'issued', serial, function_object_hsa_id
      from new_certificates order by serial;
  return null;
end
$$;
create trigger portal_report_function_certificates_issued after insert on portal_function_certificate referencing new table as new_certificates
  for each statement execute function portal_report_function_certificates_issued();

-- Only a revocation changes a function certificate's counts (the update trigger fires on every update: no column list).
create function portal_report_function_certificates_revoked() returns trigger language plpgsql as $$
begin
  insert into portal_report_status (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason, count)
    select m.organisation_hsa_id, null::text, 'function-certificate', null::smallint, m.status, m.reason, sum(m.n)
      from old_certificates o join new_certificates c on c.serial = o.serial
           cross join lateral (values (o.organisation_hsa_id, 'active', null::text, -1), (c.organisation_hsa_id, 'revoked', c.revocation_reason, 1)) as m (organisation_hsa_id, status, reason, n)
     where o.revoked_at is null and c.revoked_at is not null
     group by 1, 2, 3, 4, 5, 6 having sum(n) <> 0 order by 1, 2, 3, 4, 5, 6
    on conflict (organisation_hsa_id, unit_hsa_id, credential_type, loa, status, reason) do update set count = portal_report_status.count + excluded.count;
  insert into portal_report_event (at, organisation_hsa_id, credential_type, event, reason, certificate_serial, subject_hsa_id)
    select c.revoked_at, c.organisation_hsa_id, 'function-certificate', 'revoked', c.revocation_reason, c.serial, c.function_object_hsa_id
      from old_certificates o join new_certificates c on c.serial = o.serial
     where o.revoked_at is null and c.revoked_at is not null
     order by c.serial;
  return null;
end
$$;
create trigger portal_report_function_certificates_revoked after update on portal_function_certificate referencing old table as old_certificates new table as new_certificates
  for each statement execute function portal_report_function_certificates_revoked();
