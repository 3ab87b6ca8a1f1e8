-- Unfinished orders are deleted by a scheduled job (0660): the status counts
-- lose the card, and the history records that it was deleted, at the time of
-- the deleting transaction (the row keeps no such time of its own).
create function portal_report_card_deleted() returns trigger language plpgsql as $$
begin
  perform portal_report_status_add(old.organisation_hsa_id, old.unit_hsa_id, old.kind || '-card', old.loa, old.status, portal_report_card_reason(old.id, old.status), -1);
  insert into portal_report_event (at, organisation_hsa_id, unit_hsa_id, credential_type, loa, event, card_id, personnummer, subject_hsa_id)
    values (now(), old.organisation_hsa_id, old.unit_hsa_id, old.kind || '-card', old.loa, 'deleted', old.id, old.personnummer, old.holder_hsa_id);
  return null;
end
$$;
create trigger portal_report_card_deleted after delete on portal_card for each row execute function portal_report_card_deleted();
