-- The report summaries' counts leave their unique indexes again (0672 put
-- them there for index-only reads). A counted column in an index makes every
-- count update a non-HOT update that adds an index entry, and one transaction
-- adding to the same summary row many times (a production batch, a bulk
-- load) then walks all its own earlier entries at each step: 20,000 updates
-- of one row took 38 s that way, 2 s without. The summaries are small, so
-- reading their rows from the heap costs the reports little.
create unique index portal_report_event_day_key on portal_report_event_day (organisation_hsa_id, day, unit_hsa_id, credential_type, loa, event, reason) nulls not distinct;
drop index portal_report_event_day_counts;
create unique index portal_report_event_month_key on portal_report_event_month (organisation_hsa_id, month, unit_hsa_id, credential_type, loa, event, reason) nulls not distinct;
drop index portal_report_event_month_counts;
