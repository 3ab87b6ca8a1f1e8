-- Reports over years: counts per Swedish calendar month beside the counts per
-- day, kept by the same trigger. An event report per month, quarter or year
-- reads whole months here and only the days at the edges of its range.

create table portal_report_event_month (
  organisation_hsa_id text not null,
  month date not null,
  unit_hsa_id text,
  credential_type text not null,
  loa smallint,
  event text not null,
  reason text,
  count bigint not null
);
create unique index portal_report_event_month_key on portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason) nulls not distinct;

insert into portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason, count)
select organisation_hsa_id, date_trunc('month', day)::date, unit_hsa_id, credential_type, loa, event, reason, sum(count)
  from portal_report_event_day group by 1, 2, 3, 4, 5, 6, 7;

create or replace function portal_report_event_counted() returns trigger language plpgsql as $$
declare
  local_day date := (new.at at time zone 'Europe/Stockholm')::date;
begin
  insert into portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason, count)
    values (new.organisation_hsa_id, local_day, new.unit_hsa_id, new.credential_type, new.loa, new.event, new.reason, 1)
    on conflict (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) do update set count = portal_report_event_day.count + 1;
  insert into portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason, count)
    values (new.organisation_hsa_id, date_trunc('month', local_day)::date, new.unit_hsa_id, new.credential_type, new.loa, new.event, new.reason, 1)
    on conflict (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason) do update set count = portal_report_event_month.count + 1;
  return null;
end
$$;
