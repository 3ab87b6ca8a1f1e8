-- The card lifecycle in the portal (issue 8, domain.md §4): an order is a card
-- in its first states; production batches; the identity check at hand-out;
-- revocation requests (kept 10 years); the reserve-card stock per office.

create table portal_production_batch (
  id bigint generated always as identity primary key,
  organisation_hsa_id text not null,
  exported_by text not null,
  exported_at timestamptz not null,
  -- SHA-256 (hex) of the exported JSON lines, the portal's signature over them and the signing certificate.
  export_sha256 text not null,
  signature text not null,
  signer_certificate text not null,
  -- The manufacturer's return file, once read: a second reading is refused.
  return_sha256 text unique,
  returned_at timestamptz,
  returned_by text
);

create table portal_card (
  id bigint generated always as identity primary key,
  kind text not null check (kind in ('ordinary', 'reserve', 'test')),
  -- null for test cards (no assurance).
  loa smallint check (loa in (2, 3)),
  personnummer text not null,
  -- The service identity the card names, and where it sits (the permission target).
  holder_hsa_id text not null,
  organisation_hsa_id text not null,
  unit_hsa_id text,
  -- Reserve cards: the office (a unit) whose stock the card comes from.
  office_unit_hsa_id text,
  status text not null check (status in ('awaiting-confirmation', 'ordered', 'in-production', 'sent', 'active', 'revoked', 'withdrawn')),
  photo bytea,
  photo_type text check (photo_type in ('image/jpeg', 'image/png')),
  ordered_by text not null,
  ordered_at timestamptz not null,
  confirmed_by text,
  confirmed_at timestamptz,
  batch_id bigint references portal_production_batch (id),
  card_number text unique,
  activated_by text,
  activated_at timestamptz,
  withdrawn_by text,
  withdrawn_at timestamptz,
  updated_at timestamptz not null,
  -- A produced card has no photo left.
  check (photo is null or status in ('awaiting-confirmation', 'ordered', 'in-production'))
);
-- No duplicate open order: one open order of a kind per service identity.
create unique index portal_card_open_order on portal_card (holder_hsa_id, kind) where status in ('awaiting-confirmation', 'ordered', 'in-production');
create index portal_card_personnummer on portal_card (personnummer);
create index portal_card_ready on portal_card (organisation_hsa_id, status);

create table portal_card_certificate (
  card_id bigint not null references portal_card (id),
  -- Which key on the card: auth-hsa, sign-hsa, auth-pnr, sign-pnr, or test.
  slot text not null,
  serial text not null unique,
  profile text not null,
  primary key (card_id, slot)
);

create table portal_identity_check (
  card_id bigint primary key references portal_card (id),
  document_type text not null,
  document_number text not null,
  document_expires_on date not null,
  -- { step: true | 'not-applicable' } for each of the seven steps.
  steps jsonb not null,
  checked_by text not null,
  checked_at timestamptz not null
);

create table portal_revocation (
  id bigint generated always as identity primary key,
  card_id bigint references portal_card (id),
  personnummer text not null,
  serials text[] not null,
  reported_by text not null,
  channel text not null check (channel in ('phone', 'in-person', 'paper')),
  -- When the request was received: before registered_at when it was logged on paper during an outage.
  received_at timestamptz not null,
  registered_at timestamptz not null check (received_at <= registered_at),
  reason text not null,
  received_by text not null,
  note text,
  keep_until timestamptz not null
);
create index portal_revocation_personnummer on portal_revocation (personnummer);

-- Revocation requests are evidence: never changed, removed only after their ten years.
create function portal_revocation_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' and old.keep_until <= now() then
    return old;
  end if;
  raise exception 'portal_revocation rows are kept unchanged until %: % refused', old.keep_until, tg_op using errcode = '42501';
end
$$;
create trigger portal_revocation_kept before update or delete on portal_revocation
  for each row execute function portal_revocation_guard();

create table portal_stock_movement (
  id bigint generated always as identity primary key,
  organisation_hsa_id text not null,
  office_unit_hsa_id text not null,
  kind text not null check (kind in ('received', 'issued', 'returned', 'discarded')),
  count integer not null check (count > 0),
  card_id bigint references portal_card (id),
  actor text not null,
  at timestamptz not null
);
create index portal_stock_movement_office on portal_stock_movement (organisation_hsa_id, office_unit_hsa_id);
