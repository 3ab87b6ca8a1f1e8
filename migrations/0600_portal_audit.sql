-- The portal's audit trail (issue 8): every change to roles, orders, cards and
-- revocations, written in the same transaction as the change. Rows are
-- hash-chained (each hash covers the row and the previous row's hash) so that
-- `tillit audit verify` proves nothing was altered or removed in between; the
-- trigger refuses UPDATE, DELETE and TRUNCATE so the table is append-only.

create table portal_audit (
  seq bigint primary key check (seq >= 1),
  at timestamptz not null,
  -- Who did it: an HSA-id, or 'operator:<name>' for the command line.
  actor text not null,
  role text,
  organisation_hsa_id text,
  action text not null,
  -- What it was done to (an order id, a card number, an assignment id, ...).
  target text,
  before jsonb,
  after jsonb,
  previous_hash text not null,
  hash text not null unique
);
create index portal_audit_at on portal_audit (at);
create index portal_audit_organisation on portal_audit (organisation_hsa_id, at);

create function portal_audit_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception 'portal_audit is append-only: % refused', tg_op using errcode = '42501';
end
$$;

create trigger portal_audit_no_update_or_delete before update or delete on portal_audit
  for each row execute function portal_audit_refuse_change();
create trigger portal_audit_no_truncate before truncate on portal_audit
  for each statement execute function portal_audit_refuse_change();
