-- The network server's records (ns-core/src/model.rs), SQLite.
--
-- Identifiers: UUIDs as 16-byte blobs, EUIs, DevAddrs and keys as blobs
-- (most significant byte first), times as RFC 3339 text in UTC (which sorts
-- as time does), counters as integers, JSON documents as text.

create table tenant (
    id blob primary key,
    created_at datetime not null,
    updated_at datetime not null,
    name text not null,
    dev_addr_prefixes text not null default '[]',
    private_gateways_up boolean not null default false,
    private_gateways_down boolean not null default false
);

create table "user" (
    id blob primary key,
    created_at datetime not null,
    updated_at datetime not null,
    is_admin boolean not null default false,
    email text not null,
    password_hash text not null
);

create unique index idx_user_email on "user" (email);

create table api_key (
    id blob primary key,
    created_at datetime not null,
    name text not null,
    is_admin boolean not null default false,
    tenant_id blob references tenant on delete cascade
);

create index idx_api_key_tenant_id on api_key (tenant_id);

create table application (
    id blob primary key,
    tenant_id blob not null references tenant on delete cascade,
    created_at datetime not null,
    updated_at datetime not null,
    name text not null
);

create index idx_application_tenant_id on application (tenant_id);

create table device_profile (
    id blob primary key,
    tenant_id blob not null references tenant on delete cascade,
    created_at datetime not null,
    updated_at datetime not null,
    name text not null,
    region text not null,
    region_config_id text not null,
    mac_version text not null,
    reg_params_revision text not null,
    supports_otaa boolean not null,
    supports_class_b boolean not null,
    supports_class_c boolean not null,
    adr_algorithm_id text not null,
    uplink_interval_ms integer not null,
    device_status_req_interval integer not null,
    flush_queue_on_activate boolean not null,
    abp_rx1_delay integer not null,
    abp_rx1_dr_offset integer not null,
    abp_rx2_dr integer not null,
    abp_rx2_frequency integer not null,
    class_c_timeout_ms integer not null
);

create index idx_device_profile_tenant_id on device_profile (tenant_id);

-- `dev_addr` and `f_cnt_up` repeat the session's fields so that the uplink
-- lookup is indexed and the frame-counter update is a conditional UPDATE.
create table device (
    dev_eui blob primary key,
    application_id blob not null references application on delete cascade,
    device_profile_id blob not null references device_profile on delete cascade,
    created_at datetime not null,
    updated_at datetime not null,
    last_seen_at datetime,
    name text not null,
    join_eui blob not null,
    skip_fcnt_check boolean not null default false,
    is_disabled boolean not null default false,
    enabled_class text not null default 'A',
    dev_addr blob,
    f_cnt_up integer not null default 0,
    device_session text
);

create index idx_device_application_id on device (application_id);
create index idx_device_device_profile_id on device (device_profile_id);
create index idx_device_dev_addr on device (dev_addr);

create table device_keys (
    dev_eui blob primary key references device on delete cascade,
    created_at datetime not null,
    updated_at datetime not null,
    nwk_key blob not null,
    app_key blob not null,
    join_nonce integer not null default 0
);

-- Every DevNonce a device joined with, per JoinEUI: a reused one is a replay.
create table dev_nonce (
    dev_eui blob not null references device_keys on delete cascade,
    join_eui blob not null,
    dev_nonce integer not null,
    created_at datetime not null,
    primary key (dev_eui, join_eui, dev_nonce)
);

create table gateway (
    gateway_id blob primary key,
    tenant_id blob not null references tenant on delete cascade,
    created_at datetime not null,
    updated_at datetime not null,
    last_seen_at datetime,
    name text not null,
    latitude real not null default 0,
    longitude real not null default 0,
    altitude real not null default 0
);

create index idx_gateway_tenant_id on gateway (tenant_id);

-- The implicit rowid keeps insertion order among items created in the same
-- microsecond.
create table device_queue_item (
    id blob primary key,
    dev_eui blob not null references device on delete cascade,
    created_at datetime not null,
    f_port integer not null,
    confirmed boolean not null,
    data blob not null,
    is_pending boolean not null default false,
    f_cnt_down integer,
    timeout_after datetime,
    expires_at datetime
);

create index idx_device_queue_item_dev_eui on device_queue_item (dev_eui, created_at);
