-- The network server's records (ns-core/src/model.rs), PostgreSQL.
--
-- Identifiers: UUIDs as `uuid`, EUIs, DevAddrs and keys as `bytea` (most
-- significant byte first), times as `timestamptz`, unsigned 32-bit counters
-- as `bigint`, JSON documents as `jsonb`. Names are `text`: length limits
-- belong to the API, and SQLite would not enforce a `varchar(n)` anyway.

create table tenant (
    id uuid primary key,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    name text not null,
    dev_addr_prefixes jsonb not null default '[]',
    private_gateways_up boolean not null default false,
    private_gateways_down boolean not null default false
);

create table "user" (
    id uuid primary key,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    is_admin boolean not null default false,
    email text not null,
    password_hash text not null
);

create unique index idx_user_email on "user" (email);

create table api_key (
    id uuid primary key,
    created_at timestamptz not null,
    name text not null,
    is_admin boolean not null default false,
    tenant_id uuid references tenant on delete cascade
);

create index idx_api_key_tenant_id on api_key (tenant_id);

create table application (
    id uuid primary key,
    tenant_id uuid not null references tenant on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    name text not null
);

create index idx_application_tenant_id on application (tenant_id);

create table device_profile (
    id uuid primary key,
    tenant_id uuid not null references tenant on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    name text not null,
    region text not null,
    region_config_id text not null,
    mac_version text not null,
    reg_params_revision text not null,
    supports_otaa boolean not null,
    supports_class_b boolean not null,
    supports_class_c boolean not null,
    adr_algorithm_id text not null,
    uplink_interval_ms bigint not null,
    device_status_req_interval bigint not null,
    flush_queue_on_activate boolean not null,
    abp_rx1_delay smallint not null,
    abp_rx1_dr_offset smallint not null,
    abp_rx2_dr smallint not null,
    abp_rx2_frequency bigint not null,
    class_c_timeout_ms bigint not null
);

create index idx_device_profile_tenant_id on device_profile (tenant_id);

-- `dev_addr` and `f_cnt_up` repeat the session's fields so that the uplink
-- lookup is indexed and the frame-counter update is a conditional UPDATE.
create table device (
    dev_eui bytea primary key,
    application_id uuid not null references application on delete cascade,
    device_profile_id uuid not null references device_profile on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_seen_at timestamptz,
    name text not null,
    join_eui bytea not null,
    skip_fcnt_check boolean not null default false,
    is_disabled boolean not null default false,
    enabled_class text not null default 'A',
    dev_addr bytea,
    f_cnt_up bigint not null default 0,
    device_session jsonb
);

create index idx_device_application_id on device (application_id);
create index idx_device_device_profile_id on device (device_profile_id);
create index idx_device_dev_addr on device (dev_addr);

create table device_keys (
    dev_eui bytea primary key references device on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    nwk_key bytea not null,
    app_key bytea not null,
    join_nonce bigint not null default 0
);

-- Every DevNonce a device joined with, per JoinEUI: a reused one is a replay.
create table dev_nonce (
    dev_eui bytea not null references device_keys on delete cascade,
    join_eui bytea not null,
    dev_nonce integer not null,
    created_at timestamptz not null,
    primary key (dev_eui, join_eui, dev_nonce)
);

create table gateway (
    gateway_id bytea primary key,
    tenant_id uuid not null references tenant on delete cascade,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    last_seen_at timestamptz,
    name text not null,
    latitude double precision not null default 0,
    longitude double precision not null default 0,
    altitude real not null default 0
);

create index idx_gateway_tenant_id on gateway (tenant_id);

-- `seq` keeps insertion order among items created in the same microsecond.
create table device_queue_item (
    id uuid primary key,
    seq bigint generated always as identity,
    dev_eui bytea not null references device on delete cascade,
    created_at timestamptz not null,
    f_port smallint not null,
    confirmed boolean not null,
    data bytea not null,
    is_pending boolean not null default false,
    f_cnt_down bigint,
    timeout_after timestamptz,
    expires_at timestamptz
);

create index idx_device_queue_item_dev_eui on device_queue_item (dev_eui, created_at, seq);
