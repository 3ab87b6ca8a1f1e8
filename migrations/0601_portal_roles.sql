-- Role assignments in the portal (issue 8, domain.md §5): a holder (HSA-id)
-- holds a role for an organisation or for one unit's subtree. Removal sets
-- removed_at, so who held which role when stays answerable (the audit trail
-- has the details).

create table portal_role_assignment (
  id bigint generated always as identity primary key,
  holder_hsa_id text not null,
  role text not null check (role in ('id-administrator', 'responsible-issuer', 'deputy-issuer', 'function-certificate-orderer',
                                     'validation-specialist', 'security-officer', 'protected-identity-viewer')),
  organisation_hsa_id text not null,
  -- null: the whole organisation.
  unit_hsa_id text,
  -- ID administrators: the latest training; the role lapses without a recent one.
  trained_on timestamptz,
  appointed_by text not null,
  appointed_at timestamptz not null,
  removed_by text,
  removed_at timestamptz
);
create unique index portal_role_assignment_current on portal_role_assignment (holder_hsa_id, role, organisation_hsa_id, coalesce(unit_hsa_id, ''))
  where removed_at is null;
create index portal_role_assignment_organisation on portal_role_assignment (organisation_hsa_id) where removed_at is null;
