-- The directory (issue 4): organisations and their unit tree, persons, service
-- identities (HSA-ids), commissions and function objects, synced from the
-- catalogue (LDAP) and the population register.
-- Rows are never deleted by a sync: what vanishes gets valid_to (or, for a
-- person, missing_from_catalogue_since), so eIDs can still be traced to it.
-- References use HSA-ids, deferred, so a sync can write in any order and the
-- check still holds at commit.

create table directory_sync_run (
  id bigint generated always as identity primary key,
  source text not null check (source in ('catalogue', 'register')),
  mode text not null,
  dry_run boolean not null,
  started_at timestamptz not null,
  finished_at timestamptz,
  -- The highest modifyTimestamp the run saw (LDAP GeneralizedTime); the next incremental run starts there.
  watermark text,
  report jsonb not null
);
create index directory_sync_run_latest on directory_sync_run (source, started_at desc) where not dry_run;

create table directory_organisation (
  hsa_id text primary key,
  organisation_number text not null,
  name text not null,
  care_provider boolean not null default false,
  valid_from timestamptz not null,
  valid_to timestamptz,
  updated_at timestamptz not null
);
create index directory_organisation_number on directory_organisation (organisation_number);

create table directory_unit (
  hsa_id text primary key,
  organisation_hsa_id text not null references directory_organisation (hsa_id) deferrable initially deferred,
  -- null: directly below the organisation.
  parent_unit_hsa_id text references directory_unit (hsa_id) deferrable initially deferred,
  name text not null,
  care_unit boolean not null default false,
  valid_from timestamptz not null,
  valid_to timestamptz,
  updated_at timestamptz not null
);
create index directory_unit_organisation on directory_unit (organisation_hsa_id);
create index directory_unit_parent on directory_unit (parent_unit_hsa_id);

create table directory_person (
  id bigint generated always as identity primary key,
  personnummer text not null unique,
  given_name text not null default '',
  surname text not null default '',
  display_name text,
  -- Lower-cased (Swedish rules) "given surname display" with a leading space, for word-prefix search.
  search_name text not null default '',
  protected_identity boolean not null default false,
  deceased boolean not null default false,
  -- The register's newer personnummer for this person, when it has one.
  new_personnummer text,
  licences text[] not null default '{}',
  licence_specialities text[] not null default '{}',
  group_prescription_codes text[] not null default '{}',
  personal_prescription_code text,
  missing_from_catalogue_since timestamptz,
  missing_from_register_since timestamptz,
  -- When the register last answered for this person; names then come from the register, not the catalogue.
  register_checked_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index directory_person_search on directory_person (search_name text_pattern_ops);

create table directory_service_identity (
  hsa_id text primary key,
  person_id bigint not null references directory_person (id),
  organisation_hsa_id text not null references directory_organisation (hsa_id) deferrable initially deferred,
  unit_hsa_id text references directory_unit (hsa_id) deferrable initially deferred,
  title_code text,
  mail text,
  telephone text,
  mobile text,
  valid_from timestamptz not null,
  valid_to timestamptz,
  updated_at timestamptz not null
);
-- The login lookup: a person's current service identities.
create index directory_service_identity_person on directory_service_identity (person_id) where valid_to is null;
create index directory_service_identity_organisation on directory_service_identity (organisation_hsa_id) where valid_to is null;

create table directory_commission (
  hsa_id text primary key,
  service_identity_hsa_id text not null references directory_service_identity (hsa_id) deferrable initially deferred,
  name text not null,
  purpose text not null,
  -- [{ "activity": ..., "informationType": ..., "scope": ... }]
  rights jsonb not null default '[]',
  care_provider_hsa_id text not null references directory_organisation (hsa_id) deferrable initially deferred,
  care_unit_hsa_id text not null references directory_unit (hsa_id) deferrable initially deferred,
  valid_from timestamptz not null,
  valid_to timestamptz,
  updated_at timestamptz not null
);
create index directory_commission_service_identity on directory_commission (service_identity_hsa_id) where valid_to is null;
create index directory_commission_care_unit on directory_commission (care_unit_hsa_id) where valid_to is null;

create table directory_function_object (
  hsa_id text primary key,
  organisation_hsa_id text not null references directory_organisation (hsa_id) deferrable initially deferred,
  unit_hsa_id text references directory_unit (hsa_id) deferrable initially deferred,
  name text not null,
  kind text not null check (kind in ('server', 'system', 'mailbox')),
  dns_names text[] not null default '{}',
  mail text,
  valid_from timestamptz not null,
  valid_to timestamptz,
  updated_at timestamptz not null
);
create index directory_function_object_organisation on directory_function_object (organisation_hsa_id) where valid_to is null;

-- Every version of every entity's facts, valid_from until valid_to (null: still true),
-- so reports can say when a fact became true and when it stopped.
create table directory_history (
  id bigint generated always as identity primary key,
  entity text not null check (entity in ('organisation', 'unit', 'person', 'service_identity', 'commission', 'function_object')),
  entity_key text not null,
  facts jsonb not null,
  valid_from timestamptz not null,
  valid_to timestamptz,
  run_id bigint references directory_sync_run (id)
);
create unique index directory_history_current on directory_history (entity, entity_key) where valid_to is null;
create index directory_history_key on directory_history (entity, entity_key, valid_from);
