-- What the management API (ns-core/src/api) reads and writes beyond the radio
-- path's needs: descriptions, tags, tenant limits, users' memberships of
-- tenants, read-only API keys, and device-profile settings the server does not
-- act on yet (kept as given so that a client reads back what it wrote).

alter table tenant add column description text not null default '';
alter table tenant add column can_have_gateways boolean not null default true;
alter table tenant add column max_gateway_count bigint not null default 0;
alter table tenant add column max_device_count bigint not null default 0;
alter table tenant add column tags jsonb not null default '{}';

alter table "user" add column is_active boolean not null default true;
alter table "user" add column email_verified boolean not null default false;
alter table "user" add column note text not null default '';

create table tenant_user (
    tenant_id uuid not null references tenant on delete cascade,
    user_id uuid not null references "user" on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    is_admin boolean not null default false,
    is_device_admin boolean not null default false,
    is_gateway_admin boolean not null default false,
    primary key (tenant_id, user_id)
);

create index idx_tenant_user_user_id on tenant_user (user_id);

alter table api_key add column is_read_only boolean not null default false;

alter table application add column description text not null default '';
alter table application add column tags jsonb not null default '{}';

alter table device_profile add column description text not null default '';
alter table device_profile add column tags jsonb not null default '{}';
alter table device_profile add column extra jsonb not null default '{}';

alter table device add column description text not null default '';
alter table device add column tags jsonb not null default '{}';
alter table device add column variables jsonb not null default '{}';

alter table gateway add column description text not null default '';
alter table gateway add column tags jsonb not null default '{}';
alter table gateway add column metadata jsonb not null default '{}';
alter table gateway add column stats_interval_secs bigint not null default 30;

create index idx_application_tenant_name on application (tenant_id, name);
create index idx_device_application_name on device (application_id, name);
