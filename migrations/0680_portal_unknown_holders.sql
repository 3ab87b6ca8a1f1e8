-- Certificates of unknown holders (the portal's list, src/portal/unknown-holders.ts).
-- The directory never deletes a person or a service identity and a
-- certificate's identifier never changes, so a holder once known stays known:
-- the job portal-unknown-holders checks each eID certificate once, in the
-- order of issue, and keeps here only those whose holder the directory did not
-- know, to re-check them until their holder is known or they can no longer be
-- in force. The card (and so the organisation and unit) is read at the time
-- of asking: a certificate's card may be recorded after the certificate.
create table portal_unknown_holder (
  serial text primary key,
  identifier text,
  found_at timestamptz not null
);

-- How far the job has checked the PKI's eID certificates, by (issued_at, serial): one row, none before the first run.
create table portal_unknown_holder_progress (
  id boolean primary key default true check (id),
  issued_at timestamptz not null,
  serial text not null,
  checked_at timestamptz not null
);
