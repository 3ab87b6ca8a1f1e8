-- The report summaries answer from their indexes alone: the count is carried
-- in the unique index (an index-only scan reads a year of an organisation's
-- days from a few thousand index pages instead of their scattered heap rows).
create unique index portal_report_event_day_counts on portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) include (count) nulls not distinct;
drop index portal_report_event_day_key;
create unique index portal_report_event_month_counts on portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason) include (count) nulls not distinct;
drop index portal_report_event_month_key;
