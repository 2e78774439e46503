//! Storage against real databases: every test runs on SQLite (a file in a
//! temporary directory) and on the PostgreSQL at 127.0.0.1:5432 (database
//! `test`, a schema of its own per test; `NS_CORE_TEST_POSTGRES` overrides
//! the URL).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lorawan::keys::{AppKey, NwkKey};
use lorawan::region::{Region, Revision};
use lorawan::{DevAddr, DevNonce, Eui64};
use ns_core::model::{
    ApiKey, Application, Device, DeviceClass, DeviceKeys, DeviceProfile, DeviceSession, Gateway,
    MacVersion, QueueItem, Stamps, Tenant, TenantUser, User,
};
use ns_core::storage::{
    Backend, ListQuery, NonceError, Object, OrderBy, SessionUpdate, Storage, StorageError,
};
use uuid::Uuid;

#[path = "support/fixtures.rs"]
mod fixtures;
#[macro_use]
#[path = "support/db.rs"]
mod db;

use db::TestDb;

on_both_backends!(
    tenants_are_created_read_updated_listed_and_deleted,
    applications_belong_to_existing_tenants,
    device_profiles_round_trip_every_field,
    devices_round_trip_with_their_session,
    device_updates_leave_the_session_alone,
    devices_are_found_by_dev_addr_when_enabled,
    sessions_are_set_and_cleared,
    fcnt_update_is_a_compare_and_swap,
    fcnt_rollover_past_16_bits_is_stored_as_u32,
    concurrent_fcnt_updates_win_exactly_once,
    batched_fcnt_updates_are_each_a_compare_and_swap,
    queues_of_several_devices_are_read_at_once,
    last_seen_is_recorded,
    device_keys_keep_their_join_nonce_on_update,
    reused_dev_nonces_are_rejected,
    increasing_dev_nonces_are_enforced_when_asked,
    join_nonce_stops_at_24_bits,
    concurrent_joins_with_one_dev_nonce_win_exactly_once,
    concurrent_joins_get_distinct_join_nonces,
    queue_keeps_order_and_skips_pending_and_expired,
    queue_items_are_updated_deleted_and_flushed,
    gateways_are_created_listed_updated_and_deleted,
    deletes_cascade,
    unreadable_sessions_are_reported_as_corrupt,
    reconnecting_keeps_data,
    api_fields_round_trip,
    lists_search_order_and_count,
    users_and_memberships,
    api_keys_are_global_or_per_tenant,
    class_c_claim_takes_only_due_class_c_devices_with_items,
    class_c_claim_leases_the_devices_it_returns,
    concurrent_class_c_claims_never_return_a_device_twice,
    session_writes_keep_the_gateway_rx_info_and_the_class_a_lock,
    mixed_session_batches_keep_what_a_row_does_not_set,
    gateway_stats_update_the_gateway,
    metrics_add_up_per_bucket_and_expire,
);

/// The devices of a device list, without their profile names.
fn devices_only(page: Vec<(Device, String)>) -> Vec<Device> {
    page.into_iter().map(|(d, _)| d).collect()
}

fn tags(pairs: &[(&str, &str)]) -> ns_core::model::Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Descriptions, tags, limits, extra settings and times are stored as given.
async fn api_fields_round_trip(db: &TestDb) {
    let s = &db.storage;
    let created = micros(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let stamps = Stamps {
        created_at: created,
        updated_at: created + Duration::from_secs(5),
    };
    let mut tenant = Tenant::new("acme");
    tenant.description = "a tenant".into();
    tenant.can_have_gateways = false;
    tenant.max_gateway_count = 3;
    tenant.max_device_count = u32::MAX;
    tenant.tags = tags(&[("site", "north"), ("ü", "ß")]);
    tenant.stamps = stamps;
    s.create_tenant(&tenant).await.unwrap();
    assert_eq!(s.get_tenant(tenant.id).await.unwrap(), tenant);

    let mut app = Application::new(tenant.id, "meters");
    app.description = "water".into();
    app.tags = tags(&[("k", "v")]);
    app.stamps = stamps;
    s.create_application(&app).await.unwrap();
    assert_eq!(s.get_application(app.id).await.unwrap(), app);

    let mut profile = DeviceProfile::new(
        tenant.id,
        "p",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    profile.description = "profile".into();
    profile.tags = tags(&[("model", "x1")]);
    profile.extra.insert(
        "payloadCodecScript".into(),
        serde_json::json!("function f() {}"),
    );
    profile.stamps = stamps;
    s.create_device_profile(&profile).await.unwrap();
    assert_eq!(s.get_device_profile(profile.id).await.unwrap(), profile);

    let mut device = Device::new(eui(1), app.id, profile.id, "d");
    device.description = "a device".into();
    device.tags = tags(&[("room", "12")]);
    device.variables = tags(&[("secret", "x")]);
    device.stamps = stamps;
    s.create_device(&device).await.unwrap();
    assert_eq!(s.get_device(device.dev_eui).await.unwrap(), device);
    device.description = "changed".into();
    device.stamps.touch();
    s.update_device(&device).await.unwrap();
    assert_eq!(s.get_device(device.dev_eui).await.unwrap(), device);

    let mut gateway = Gateway::new(eui(2), tenant.id, "gw");
    gateway.description = "roof".into();
    gateway.tags = tags(&[("a", "b")]);
    gateway.metadata = tags(&[("fw", "1.2")]);
    gateway.stats_interval = Duration::from_secs(60);
    gateway.stamps = stamps;
    s.create_gateway(&gateway).await.unwrap();
    assert_eq!(s.get_gateway(gateway.gateway_id).await.unwrap(), gateway);
}

/// Lists search names (and EUIs) ignoring case, treat `%` and `_` in the
/// search as text, order as asked and count every match.
async fn lists_search_order_and_count(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    for (n, name) in ["Alpha", "beta", "GAMMA", "50%_off"].iter().enumerate() {
        let mut d = f.device(eui(0x10 + n as u64));
        d.name = name.to_string();
        if n == 1 {
            d.last_seen_at = Some(micros(SystemTime::now()));
        }
        s.create_device(&d).await.unwrap();
    }
    let names = |page: Vec<(Device, String)>| {
        page.into_iter()
            .map(|(d, p)| {
                assert_eq!(p, f.profile.name);
                d.name
            })
            .collect::<Vec<_>>()
    };
    let page = s
        .list_devices(f.app.id, None, &ListQuery::page(2, 0))
        .await
        .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(names(page.items), ["50%_off", "Alpha"]);

    let q = ListQuery::page(10, 0).search("A");
    let page = s.list_devices(f.app.id, None, &q).await.unwrap();
    assert_eq!(page.total, 3, "alpha, beta, gamma");
    assert_eq!(names(page.items), ["Alpha", "GAMMA", "beta"]);

    // Wildcards are text: only the name with a literal "%_".
    let q = ListQuery::page(10, 0).search("%_");
    assert_eq!(
        names(s.list_devices(f.app.id, None, &q).await.unwrap().items),
        ["50%_off"]
    );
    // EUIs in hex.
    let q = ListQuery::page(10, 0).search("0000000000000012");
    assert_eq!(
        names(s.list_devices(f.app.id, None, &q).await.unwrap().items),
        ["GAMMA"]
    );

    let q = ListQuery::page(10, 0).order_by(OrderBy::Id, true);
    assert_eq!(
        names(s.list_devices(f.app.id, None, &q).await.unwrap().items),
        ["50%_off", "GAMMA", "beta", "Alpha"]
    );
    // Never seen first, ascending.
    let q = ListQuery::page(10, 0).order_by(OrderBy::LastSeen, false);
    assert_eq!(
        names(s.list_devices(f.app.id, None, &q).await.unwrap().items).last(),
        Some(&"beta".to_string())
    );
    // Only the count.
    let page = s
        .list_devices(f.app.id, Some(Uuid::new_v4()), &ListQuery::page(0, 0))
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (0, 0));
    let page = s
        .list_devices(f.app.id, Some(f.profile.id), &ListQuery::page(0, 0))
        .await
        .unwrap();
    assert_eq!((page.total, page.items.len()), (4, 0));

    // On PostgreSQL the searches read from trigram indexes (migration 0006;
    // the machine's PostgreSQL ships pg_trgm): all six were made.
    if s.backend() == Backend::Postgres {
        let trigram = db
            .count(
                "SELECT count(*) FROM pg_indexes \
                 WHERE schemaname = current_schema() AND indexname LIKE '%\\_trgm'",
            )
            .await;
        assert_eq!(trigram, 6);
    }
}

async fn users_and_memberships(db: &TestDb) {
    let s = &db.storage;
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    let other = Tenant::new("other");
    s.create_tenant(&other).await.unwrap();

    let mut user = User::new("ada@example.com");
    user.password_hash = "$pbkdf2-sha512$i=1,l=64$c2FsdA$aGFzaA".into();
    user.note = "first".into();
    s.create_user(&user).await.unwrap();
    assert_eq!(s.get_user(user.id).await.unwrap(), user);
    assert_eq!(
        s.find_user_by_email("ada@example.com").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        s.find_user_by_email("nobody@example.com").await.unwrap(),
        None
    );
    let mut twin = User::new("ada@example.com");
    twin.id = Uuid::new_v4();
    assert_already_exists(s.create_user(&twin).await, Object::User(twin.id));

    user.is_admin = true;
    user.is_active = false;
    user.stamps.touch();
    s.update_user(&user).await.unwrap();
    s.set_user_password_hash(user.id, "new").await.unwrap();
    let stored = s.get_user(user.id).await.unwrap();
    assert!(stored.is_admin && !stored.is_active);
    assert_eq!(stored.password_hash, "new");

    let bob = User::new("bob@example.com");
    s.create_user(&bob).await.unwrap();
    let page = s.list_users(&ListQuery::page(1, 1)).await.unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].email, "bob@example.com");

    let mut member = TenantUser::new(tenant.id, user.id);
    member.is_device_admin = true;
    s.add_tenant_user(&member).await.unwrap();
    s.add_tenant_user(&TenantUser::new(other.id, user.id))
        .await
        .unwrap();
    s.add_tenant_user(&TenantUser::new(tenant.id, bob.id))
        .await
        .unwrap();
    assert_already_exists(
        s.add_tenant_user(&member).await,
        Object::TenantUser {
            tenant_id: tenant.id,
            user_id: user.id,
        },
    );
    let nobody = Uuid::new_v4();
    assert_not_found(
        s.add_tenant_user(&TenantUser::new(tenant.id, nobody)).await,
        Object::User(nobody),
    );
    assert_not_found(
        s.add_tenant_user(&TenantUser::new(nobody, user.id)).await,
        Object::Tenant(nobody),
    );
    assert_eq!(
        s.get_tenant_user(tenant.id, user.id).await.unwrap(),
        (member.clone(), "ada@example.com".to_string())
    );
    member.is_admin = true;
    s.update_tenant_user(&member).await.unwrap();
    assert!(
        s.get_tenant_user(tenant.id, user.id)
            .await
            .unwrap()
            .0
            .is_admin
    );

    let page = s
        .list_tenant_users(tenant.id, &ListQuery::page(10, 0))
        .await
        .unwrap();
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].1, "ada@example.com");
    assert_eq!(s.tenants_of_user(user.id).await.unwrap().len(), 2);
    let mine = s
        .list_tenants(&ListQuery::page(10, 0), Some(bob.id))
        .await
        .unwrap();
    assert_eq!(mine.total, 1);
    assert_eq!(mine.items[0].id, tenant.id);

    s.delete_tenant_user(tenant.id, bob.id).await.unwrap();
    assert_not_found(
        s.delete_tenant_user(tenant.id, bob.id).await,
        Object::TenantUser {
            tenant_id: tenant.id,
            user_id: bob.id,
        },
    );
    // Deleting a user or a tenant removes the memberships.
    s.delete_user(user.id).await.unwrap();
    assert!(s.tenants_of_user(user.id).await.unwrap().is_empty());
    assert_not_found(s.get_user(user.id).await, Object::User(user.id));
}

async fn api_keys_are_global_or_per_tenant(db: &TestDb) {
    let s = &db.storage;
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    let admin = ApiKey::new("admin", None);
    assert!(admin.is_admin);
    s.create_api_key(&admin).await.unwrap();
    let mut scoped = ApiKey::new("scoped", Some(tenant.id));
    scoped.is_read_only = true;
    s.create_api_key(&scoped).await.unwrap();
    assert_eq!(s.get_api_key(scoped.id).await.unwrap(), scoped);
    assert_eq!(s.get_api_key(admin.id).await.unwrap(), admin);
    let orphan = ApiKey::new("orphan", Some(Uuid::new_v4()));
    assert_not_found(
        s.create_api_key(&orphan).await,
        Object::Tenant(orphan.tenant_id.unwrap()),
    );

    let global = s
        .list_api_keys(None, &ListQuery::page(10, 0))
        .await
        .unwrap();
    assert_eq!(global.items, std::slice::from_ref(&admin));
    let mine = s
        .list_api_keys(Some(tenant.id), &ListQuery::page(10, 0))
        .await
        .unwrap();
    assert_eq!(mine.items, [scoped.clone()]);

    s.delete_api_key(admin.id).await.unwrap();
    assert_not_found(s.get_api_key(admin.id).await, Object::ApiKey(admin.id));
    s.delete_tenant(tenant.id).await.unwrap();
    assert_not_found(s.get_api_key(scoped.id).await, Object::ApiKey(scoped.id));
}

fn eui(n: u64) -> Eui64 {
    Eui64::from_u64(n)
}

/// A time as storage keeps it (to the microsecond).
fn micros(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap();
    UNIX_EPOCH + Duration::from_micros(d.as_micros() as u64)
}

/// A LoRaWAN 1.0.3 session with a few of every kind of field set.
fn session(dev_addr: u32, f_cnt_up: u32) -> DeviceSession {
    fixtures::session(serde_json::json!({
        "dev_addr": format!("{dev_addr:08x}"),
        "f_cnt_up": f_cnt_up,
        "n_f_cnt_down": 3,
        "extra_uplink_channels": [{"frequency": 867_100_000, "min_dr": 0, "max_dr": 5}],
        "dr": 5,
        "tx_power_index": 1,
        "max_supported_tx_power_index": 7,
        "uplink_adr_history": [
            {"f_cnt": 9, "max_snr": 7.25, "max_rssi": -80, "tx_power_index": 1, "gateway_count": 2}
        ],
        "mac_command_pending": [{"cid": 3, "request": [3, 0x51, 0xff, 0, 1], "attempts": 1}],
        "mac_command_error_count": {"3": 1},
        "last_device_status_request": {"secs_since_epoch": 1_700_000_000, "nanos_since_epoch": 5},
    }))
}

/// A tenant, application and device profile to hang devices on.
struct Fixture {
    tenant: Tenant,
    app: Application,
    profile: DeviceProfile,
}

async fn fixture(s: &Storage) -> Fixture {
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    let app = Application::new(tenant.id, "meters");
    s.create_application(&app).await.unwrap();
    let profile = DeviceProfile::new(
        tenant.id,
        "class A",
        Region::Eu868,
        MacVersion::V1_0_3,
        Revision::Rp002_1_0_3,
    );
    s.create_device_profile(&profile).await.unwrap();
    Fixture {
        tenant,
        app,
        profile,
    }
}

impl Fixture {
    fn device(&self, dev_eui: Eui64) -> Device {
        Device::new(dev_eui, self.app.id, self.profile.id, format!("d{dev_eui}"))
    }

    /// A stored device with keys.
    async fn otaa_device(&self, s: &Storage, dev_eui: Eui64) -> Device {
        let device = self.device(dev_eui);
        s.create_device(&device).await.unwrap();
        let keys = DeviceKeys::new(
            dev_eui,
            NwkKey::from_be_bytes([7; 16]),
            AppKey::from_be_bytes([8; 16]),
        );
        s.create_device_keys(&keys).await.unwrap();
        device
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, object: Object) {
    match result {
        Err(StorageError::NotFound(o)) => assert_eq!(o, object),
        other => panic!("expected NotFound({object}), got {other:?}"),
    }
}

fn assert_already_exists<T: std::fmt::Debug>(result: Result<T, StorageError>, object: Object) {
    match result {
        Err(StorageError::AlreadyExists(o)) => assert_eq!(o, object),
        other => panic!("expected AlreadyExists({object}), got {other:?}"),
    }
}

async fn tenants_are_created_read_updated_listed_and_deleted(db: &TestDb) {
    let s = &db.storage;
    let mut b = Tenant::new("bravo");
    b.dev_addr_prefixes = vec!["26000000/7".into(), "fc00ac00/22".into()];
    b.private_gateways_up = true;
    let a = Tenant::new("alpha");
    let c = Tenant::new("charlie");
    for t in [&b, &a, &c] {
        s.create_tenant(t).await.unwrap();
    }
    assert_eq!(s.get_tenant(b.id).await.unwrap(), b);
    assert_already_exists(s.create_tenant(&b).await, Object::Tenant(b.id));

    b.name = "bravo 2".into();
    b.dev_addr_prefixes.pop();
    b.private_gateways_up = false;
    b.private_gateways_down = true;
    s.update_tenant(&b).await.unwrap();
    assert_eq!(s.get_tenant(b.id).await.unwrap(), b);

    let names = |ts: Vec<Tenant>| ts.into_iter().map(|t| t.name).collect::<Vec<_>>();
    assert_eq!(
        names(
            s.list_tenants(&ListQuery::page(10, 0), None)
                .await
                .unwrap()
                .items
        ),
        ["alpha", "bravo 2", "charlie"]
    );
    assert_eq!(
        names(
            s.list_tenants(&ListQuery::page(1, 1), None)
                .await
                .unwrap()
                .items
        ),
        ["bravo 2"]
    );
    assert!(
        s.list_tenants(&ListQuery::page(10, 3), None)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    s.delete_tenant(b.id).await.unwrap();
    assert_not_found(s.get_tenant(b.id).await, Object::Tenant(b.id));
    assert_not_found(s.update_tenant(&b).await, Object::Tenant(b.id));
    assert_not_found(s.delete_tenant(b.id).await, Object::Tenant(b.id));
    assert_eq!(
        s.list_tenants(&ListQuery::page(10, 0), None)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
}

async fn applications_belong_to_existing_tenants(db: &TestDb) {
    let s = &db.storage;
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    let orphan = Application::new(Uuid::new_v4(), "nowhere");
    assert_not_found(
        s.create_application(&orphan).await,
        Object::Tenant(orphan.tenant_id),
    );

    let mut app = Application::new(tenant.id, "meters");
    s.create_application(&app).await.unwrap();
    s.create_application(&Application::new(tenant.id, "alarms"))
        .await
        .unwrap();
    assert_already_exists(
        s.create_application(&app).await,
        Object::Application(app.id),
    );
    assert_eq!(s.get_application(app.id).await.unwrap(), app);

    app.name = "water meters".into();
    s.update_application(&app).await.unwrap();
    assert_eq!(s.get_application(app.id).await.unwrap(), app);
    let listed = s
        .list_applications(tenant.id, &ListQuery::page(10, 0))
        .await
        .unwrap()
        .items;
    assert_eq!(
        listed.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["alarms", "water meters"]
    );
    assert!(
        s.list_applications(Uuid::new_v4(), &ListQuery::page(10, 0))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    s.delete_application(app.id).await.unwrap();
    assert_not_found(s.get_application(app.id).await, Object::Application(app.id));
    assert_not_found(
        s.update_application(&app).await,
        Object::Application(app.id),
    );
    assert_not_found(
        s.delete_application(app.id).await,
        Object::Application(app.id),
    );
}

async fn device_profiles_round_trip_every_field(db: &TestDb) {
    let s = &db.storage;
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    let mut p = DeviceProfile::new(
        tenant.id,
        "us meters",
        Region::Us915,
        MacVersion::V1_1_0,
        Revision::Rp002_1_0_4,
    );
    let mut orphan = p.clone();
    orphan.tenant_id = Uuid::new_v4();
    assert_not_found(
        s.create_device_profile(&orphan).await,
        Object::Tenant(orphan.tenant_id),
    );
    s.create_device_profile(&p).await.unwrap();
    assert_eq!(s.get_device_profile(p.id).await.unwrap(), p);
    assert_already_exists(
        s.create_device_profile(&p).await,
        Object::DeviceProfile(p.id),
    );

    p.name = "as meters".into();
    p.region = Region::As923_2;
    p.region_config_id = "as923_2".into();
    p.mac_version = MacVersion::V1_0_2;
    p.reg_params_revision = Revision::B;
    p.supports_otaa = false;
    p.supports_class_b = true;
    p.supports_class_c = true;
    p.adr_algorithm_id = "lr_fhss".into();
    p.uplink_interval = Duration::from_millis(90_500);
    p.device_status_req_interval = u32::MAX;
    p.flush_queue_on_activate = false;
    p.abp_rx1_delay = 15;
    p.abp_rx1_dr_offset = 5;
    p.abp_rx2_dr = 255;
    p.abp_rx2_frequency = 4_000_000_000;
    p.class_c_timeout = Duration::from_secs(30);
    s.update_device_profile(&p).await.unwrap();
    assert_eq!(s.get_device_profile(p.id).await.unwrap(), p);
    assert_eq!(
        s.list_device_profiles(tenant.id, &ListQuery::page(10, 0))
            .await
            .unwrap()
            .items,
        [p.clone()]
    );

    s.delete_device_profile(p.id).await.unwrap();
    assert_not_found(
        s.get_device_profile(p.id).await,
        Object::DeviceProfile(p.id),
    );
    assert_not_found(
        s.update_device_profile(&p).await,
        Object::DeviceProfile(p.id),
    );
    assert_not_found(
        s.delete_device_profile(p.id).await,
        Object::DeviceProfile(p.id),
    );
}

async fn devices_round_trip_with_their_session(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut d = f.device(eui(1));
    d.join_eui = eui(0x70b3_d57e_d000_0001);
    d.skip_fcnt_check = true;
    d.enabled_class = DeviceClass::C;
    d.last_seen_at = Some(micros(SystemTime::now()));
    d.session = Some(session(0x2601_1234, 70_000));
    s.create_device(&d).await.unwrap();
    assert_eq!(s.get_device(d.dev_eui).await.unwrap(), d);
    assert_already_exists(s.create_device(&d).await, Object::Device(d.dev_eui));

    // A device without a session, listed by name.
    let mut a = f.device(eui(2));
    a.name = "a first".into();
    s.create_device(&a).await.unwrap();
    assert_eq!(s.get_device(a.dev_eui).await.unwrap(), a);
    assert_eq!(
        devices_only(
            s.list_devices(f.app.id, None, &ListQuery::page(10, 0))
                .await
                .unwrap()
                .items
        ),
        [a.clone(), d.clone()]
    );
    assert_eq!(
        devices_only(
            s.list_devices(f.app.id, None, &ListQuery::page(1, 1))
                .await
                .unwrap()
                .items
        ),
        [d.clone()]
    );

    // References to missing objects name the missing one.
    let mut no_app = f.device(eui(3));
    no_app.application_id = Uuid::new_v4();
    assert_not_found(
        s.create_device(&no_app).await,
        Object::Application(no_app.application_id),
    );
    let mut no_profile = f.device(eui(3));
    no_profile.device_profile_id = Uuid::new_v4();
    assert_not_found(
        s.create_device(&no_profile).await,
        Object::DeviceProfile(no_profile.device_profile_id),
    );
    assert_not_found(
        s.update_device(&no_profile).await,
        Object::Device(no_profile.dev_eui),
    );
    let mut bad_profile = a.clone();
    bad_profile.device_profile_id = Uuid::new_v4();
    assert_not_found(
        s.update_device(&bad_profile).await,
        Object::DeviceProfile(bad_profile.device_profile_id),
    );

    s.delete_device(d.dev_eui).await.unwrap();
    assert_not_found(s.get_device(d.dev_eui).await, Object::Device(d.dev_eui));
    assert_not_found(s.delete_device(d.dev_eui).await, Object::Device(d.dev_eui));
}

async fn device_updates_leave_the_session_alone(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut d = f.device(eui(1));
    d.session = Some(session(0x2601_0001, 5));
    s.create_device(&d).await.unwrap();
    s.update_device_last_seen(d.dev_eui, UNIX_EPOCH + Duration::from_secs(1_000))
        .await
        .unwrap();

    let other_profile = DeviceProfile::new(
        f.tenant.id,
        "class C",
        Region::Eu868,
        MacVersion::V1_0_4,
        Revision::Rp002_1_0_3,
    );
    s.create_device_profile(&other_profile).await.unwrap();
    // An API edit made from a stale read: no session, never seen.
    let mut edit = f.device(d.dev_eui);
    edit.device_profile_id = other_profile.id;
    edit.name = "renamed".into();
    edit.join_eui = eui(9);
    edit.skip_fcnt_check = true;
    edit.is_disabled = true;
    edit.enabled_class = DeviceClass::B;
    s.update_device(&edit).await.unwrap();

    let stored = s.get_device(d.dev_eui).await.unwrap();
    edit.session = d.session.clone();
    edit.last_seen_at = Some(UNIX_EPOCH + Duration::from_secs(1_000));
    // The creation time is never rewritten.
    edit.stamps.created_at = d.stamps.created_at;
    assert_eq!(stored, edit);
}

async fn devices_are_found_by_dev_addr_when_enabled(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let shared = 0x2601_0001;
    let mut one = f.device(eui(1));
    one.session = Some(session(shared, 10));
    let mut two = f.device(eui(2));
    two.session = Some(session(shared, 20));
    let mut disabled = f.device(eui(3));
    disabled.session = Some(session(shared, 30));
    disabled.is_disabled = true;
    let mut elsewhere = f.device(eui(4));
    elsewhere.session = Some(session(0x2601_0002, 40));
    let inactive = f.device(eui(5));
    for d in [&one, &two, &disabled, &elsewhere, &inactive] {
        s.create_device(d).await.unwrap();
    }

    let found = s
        .devices_by_dev_addr(DevAddr::from_u32(shared))
        .await
        .unwrap();
    assert_eq!(found, [(one, f.profile.clone()), (two, f.profile.clone())]);
    assert!(
        s.devices_by_dev_addr(DevAddr::from_u32(0x2601_0003))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sessions_are_set_and_cleared(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.device(eui(1));
    s.create_device(&d).await.unwrap();
    let addr = DevAddr::from_u32(0x2601_0001);

    let joined = session(addr.to_u32(), 0);
    s.set_session(d.dev_eui, Some(&joined)).await.unwrap();
    assert_eq!(s.get_device(d.dev_eui).await.unwrap().session, Some(joined));
    assert_eq!(s.devices_by_dev_addr(addr).await.unwrap().len(), 1);

    // A rejoin moves the device to its new DevAddr.
    let rejoined = session(0x2601_0099, 0);
    s.set_session(d.dev_eui, Some(&rejoined)).await.unwrap();
    assert!(s.devices_by_dev_addr(addr).await.unwrap().is_empty());
    assert_eq!(
        s.devices_by_dev_addr(rejoined.dev_addr)
            .await
            .unwrap()
            .len(),
        1
    );

    s.set_session(d.dev_eui, None).await.unwrap();
    assert_eq!(s.get_device(d.dev_eui).await.unwrap().session, None);
    assert!(
        s.devices_by_dev_addr(rejoined.dev_addr)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(s.set_session(eui(99), None).await, Object::Device(eui(99)));
}

async fn fcnt_update_is_a_compare_and_swap(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut d = f.device(eui(1));
    d.session = Some(session(0x2601_0001, 10));
    s.create_device(&d).await.unwrap();

    let mut next = session(0x2601_0001, 11);
    next.n_f_cnt_down = 4;
    assert!(!s.update_session_if_fcnt(d.dev_eui, 9, &next).await.unwrap());
    assert!(
        s.update_session_if_fcnt(d.dev_eui, 10, &next)
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_device(d.dev_eui).await.unwrap().session,
        Some(next.clone())
    );
    // The same frame again (another instance, a duplicate): refused.
    assert!(
        !s.update_session_if_fcnt(d.dev_eui, 10, &next)
            .await
            .unwrap()
    );

    // An FCntUp going back is fine for a compare-and-swap
    // (skip_fcnt_check); a downlink counter going back is not (a TX ack
    // advanced it since the session was read).
    let mut reset = session(0x2601_0001, 1);
    assert!(
        !s.update_session_if_fcnt(d.dev_eui, 11, &reset)
            .await
            .unwrap()
    );
    reset.n_f_cnt_down = 4;
    assert!(
        s.update_session_if_fcnt(d.dev_eui, 11, &reset)
            .await
            .unwrap()
    );

    // The session must still be the one with that DevAddr.
    s.set_session(d.dev_eui, Some(&session(0x2601_0002, 1)))
        .await
        .unwrap();
    assert!(
        !s.update_session_if_fcnt(d.dev_eui, 1, &session(0x2601_0001, 2))
            .await
            .unwrap()
    );
    s.set_session(d.dev_eui, None).await.unwrap();
    assert!(
        !s.update_session_if_fcnt(d.dev_eui, 0, &session(0x2601_0001, 1))
            .await
            .unwrap()
    );
    assert!(!s.update_session_if_fcnt(eui(99), 0, &next).await.unwrap());
}

async fn batched_fcnt_updates_are_each_a_compare_and_swap(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut devices = Vec::new();
    for n in 1..=3 {
        let mut d = f.device(eui(n));
        d.session = Some(session(0x2601_0000 + n as u32, 10));
        s.create_device(&d).await.unwrap();
        devices.push(d);
    }
    assert_eq!(
        s.update_sessions_if_fcnt(&[]).await.unwrap(),
        Vec::<bool>::new()
    );
    let next: Vec<DeviceSession> = (1..=3).map(|n| session(0x2601_0000 + n, 11)).collect();
    let seen = micros(SystemTime::now());
    let update = |i: usize, expected: u32| SessionUpdate {
        dev_eui: devices[i].dev_eui,
        expected_f_cnt_up: expected,
        session: &next[i],
        seen_at: Some(seen),
        gateway_rx_info: None,
        scheduler_run_after: None,
    };
    // Device 1 as read, device 2 read stale, device 3 twice in one batch,
    // and a device that does not exist.
    let ghost = session(0x2601_0009, 1);
    let results = s
        .update_sessions_if_fcnt(&[
            update(0, 10),
            update(1, 9),
            update(2, 10),
            update(2, 10),
            SessionUpdate {
                dev_eui: eui(99),
                expected_f_cnt_up: 0,
                session: &ghost,
                seen_at: None,
                gateway_rx_info: None,
                scheduler_run_after: None,
            },
        ])
        .await
        .unwrap();
    assert_eq!(results, [true, false, true, false, false]);
    let one = s.get_device(devices[0].dev_eui).await.unwrap();
    assert_eq!(one.session, Some(next[0].clone()));
    assert_eq!(one.last_seen_at, Some(seen));
    let two = s.get_device(devices[1].dev_eui).await.unwrap();
    assert_eq!(two.session.unwrap().f_cnt_up, 10);
    assert_eq!(two.last_seen_at, None);
    // Candidates of several DevAddrs at once, each under its own.
    let found = s
        .devices_by_dev_addrs(&[
            DevAddr::from_u32(0x2601_0001),
            DevAddr::from_u32(0x2601_0002),
            DevAddr::from_u32(0x2601_00ff),
        ])
        .await
        .unwrap();
    assert_eq!(found.len(), 3);
    assert_eq!(found[&DevAddr::from_u32(0x2601_0001)][0].0.dev_eui, eui(1));
    assert_eq!(found[&DevAddr::from_u32(0x2601_0002)][0].0.dev_eui, eui(2));
    assert!(found[&DevAddr::from_u32(0x2601_00ff)].is_empty());
    // The same batch again: every update is now stale.
    let again = s
        .update_sessions_if_fcnt(&[update(0, 10), update(2, 10)])
        .await
        .unwrap();
    assert_eq!(again, [false, false]);
    // A TX ack advanced device 1's NFCntDown after an uplink read the
    // session: the uplink's write, with the old counter, is refused
    // though its FCntUp is the expected one; with the counter it passes.
    let mut acked = next[0].clone();
    acked.n_f_cnt_down = 7;
    assert!(s.update_session_if_fcnt(eui(1), 11, &acked).await.unwrap());
    let mut read_before = session(0x2601_0001, 12);
    read_before.n_f_cnt_down = 6;
    let write = |session| SessionUpdate {
        dev_eui: eui(1),
        expected_f_cnt_up: 11,
        session,
        seen_at: None,
        gateway_rx_info: None,
        scheduler_run_after: None,
    };
    assert_eq!(
        s.update_sessions_if_fcnt(&[write(&read_before)])
            .await
            .unwrap(),
        [false]
    );
    let mut read_after = read_before.clone();
    read_after.n_f_cnt_down = 7;
    assert_eq!(
        s.update_sessions_if_fcnt(&[write(&read_after)])
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(
        s.get_device(eui(1))
            .await
            .unwrap()
            .session
            .unwrap()
            .n_f_cnt_down,
        7
    );
    // The same for AFCntDown (LoRaWAN 1.1 application downlinks).
    let mut acked_a = read_after.clone();
    acked_a.a_f_cnt_down = 3;
    let expected = read_after.f_cnt_up;
    assert!(
        s.update_session_if_fcnt(eui(1), expected, &acked_a)
            .await
            .unwrap()
    );
    let mut stale_a = read_after.clone();
    stale_a.a_f_cnt_down = 2;
    let write_a = |session| SessionUpdate {
        expected_f_cnt_up: expected,
        ..write(session)
    };
    assert_eq!(
        s.update_sessions_if_fcnt(&[write_a(&stale_a)])
            .await
            .unwrap(),
        [false]
    );
    assert_eq!(
        s.update_sessions_if_fcnt(&[write_a(&acked_a)])
            .await
            .unwrap(),
        [true]
    );
}

async fn queues_of_several_devices_are_read_at_once(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    for n in 1..=3 {
        s.create_device(&f.device(eui(n))).await.unwrap();
    }
    let now = micros(SystemTime::now());
    for (n, port) in [(1, 1), (2, 2), (1, 3)] {
        let mut item = QueueItem::new(eui(n), port, false, vec![port]);
        item.created_at = now + Duration::from_micros(u64::from(port));
        s.enqueue(&item).await.unwrap();
    }
    let queues = s
        .list_queue_items_of(&[eui(1), eui(2), eui(3)])
        .await
        .unwrap();
    let ports = |n: u64| -> Vec<u8> {
        queues
            .get(&eui(n))
            .map(|q| q.iter().map(|i| i.f_port).collect())
            .unwrap_or_default()
    };
    assert_eq!(ports(1), [1, 3]);
    assert_eq!(ports(2), [2]);
    assert!(ports(3).is_empty());
    assert!(s.list_queue_items_of(&[]).await.unwrap().is_empty());
}

async fn fcnt_rollover_past_16_bits_is_stored_as_u32(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let addr = 0x2601_0001;
    let mut d = f.device(eui(1));
    d.session = Some(session(addr, 0xffff));
    s.create_device(&d).await.unwrap();

    assert!(
        s.update_session_if_fcnt(d.dev_eui, 0xffff, &session(addr, 0x1_0000))
            .await
            .unwrap()
    );
    assert!(
        s.update_session_if_fcnt(d.dev_eui, 0x1_0000, &session(addr, 0xffff_fffe))
            .await
            .unwrap()
    );
    assert!(
        s.update_session_if_fcnt(d.dev_eui, 0xffff_fffe, &session(addr, u32::MAX))
            .await
            .unwrap()
    );
    let found = s
        .devices_by_dev_addr(DevAddr::from_u32(addr))
        .await
        .unwrap();
    assert_eq!(found[0].0.session.as_ref().unwrap().f_cnt_up, u32::MAX);
    assert!(
        s.update_session_if_fcnt(d.dev_eui, u32::MAX, &session(addr, 0))
            .await
            .unwrap()
    );
}

async fn concurrent_fcnt_updates_win_exactly_once(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let addr = 0x2601_0001;
    for round in 0..5u32 {
        let dev_eui = eui(100 + u64::from(round));
        let mut d = f.device(dev_eui);
        d.session = Some(session(addr, 41));
        s.create_device(&d).await.unwrap();

        let barrier = Arc::new(tokio::sync::Barrier::new(6));
        let tasks: Vec<_> = (0..6u32)
            .map(|i| {
                let (s, barrier) = (s.clone(), barrier.clone());
                let mut next = session(addr, 42);
                next.n_f_cnt_down = i; // which task won
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.update_session_if_fcnt(dev_eui, 41, &next).await.unwrap()
                })
            })
            .collect();
        let mut winners = Vec::new();
        for (i, task) in tasks.into_iter().enumerate() {
            if task.await.unwrap() {
                winners.push(i as u32);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let stored = s.get_device(dev_eui).await.unwrap().session.unwrap();
        assert_eq!((stored.f_cnt_up, stored.n_f_cnt_down), (42, winners[0]));
    }
}

async fn last_seen_is_recorded(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.device(eui(1));
    s.create_device(&d).await.unwrap();
    let gw = Gateway::new(eui(0xaa), f.tenant.id, "roof");
    s.create_gateway(&gw).await.unwrap();

    let at = SystemTime::now();
    s.update_device_last_seen(d.dev_eui, at).await.unwrap();
    s.update_gateway_from_stats(gw.gateway_id, at, &tags(&[]), None)
        .await
        .unwrap();
    assert_eq!(
        s.get_device(d.dev_eui).await.unwrap().last_seen_at,
        Some(micros(at))
    );
    assert_eq!(
        s.get_gateway(gw.gateway_id).await.unwrap().last_seen_at,
        Some(micros(at))
    );
    assert_not_found(
        s.update_device_last_seen(eui(2), at).await,
        Object::Device(eui(2)),
    );
    assert_not_found(
        s.update_gateway_from_stats(eui(0xbb), at, &tags(&[]), None)
            .await,
        Object::Gateway(eui(0xbb)),
    );
}

/// Stats set last_seen and replace the metadata; a position only when one
/// is reported.
async fn gateway_stats_update_the_gateway(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut gw = Gateway::new(eui(0xaa), f.tenant.id, "roof");
    gw.latitude = 1.0;
    gw.metadata = tags(&[("old", "1")]);
    s.create_gateway(&gw).await.unwrap();

    let at = SystemTime::now();
    let metadata = tags(&[("concentratord_version", "4.4.0")]);
    s.update_gateway_from_stats(gw.gateway_id, at, &metadata, None)
        .await
        .unwrap();
    let stored = s.get_gateway(gw.gateway_id).await.unwrap();
    assert_eq!(stored.last_seen_at, Some(micros(at)));
    assert_eq!(stored.metadata, metadata);
    assert_eq!((stored.latitude, stored.longitude), (1.0, 0.0));

    s.update_gateway_from_stats(gw.gateway_id, at, &tags(&[]), Some((52.5, 13.4, 34.0)))
        .await
        .unwrap();
    let stored = s.get_gateway(gw.gateway_id).await.unwrap();
    assert!(stored.metadata.is_empty());
    assert_eq!(
        (stored.latitude, stored.longitude, stored.altitude),
        (52.5, 13.4, 34.0)
    );
    // The rest is left alone.
    assert_eq!(
        (stored.name.as_str(), stored.tenant_id),
        ("roof", f.tenant.id)
    );
    assert_not_found(
        s.update_gateway_from_stats(eui(0xbb), at, &metadata, None)
            .await,
        Object::Gateway(eui(0xbb)),
    );
}

/// Samples add up in their bucket of each aggregation, gauges keep their
/// count, owners are apart, and old buckets go when their retention ends.
async fn metrics_add_up_per_bucket_and_expire(db: &TestDb) {
    use ns_core::metrics::{Aggregation, Samples};
    let s = &db.storage;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_764_144_000); // 2025-11-26 08:00:00 UTC
    let samples = |pairs: &[(&str, f64)]| -> Samples {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    s.add_metrics(
        "gw:a",
        t0,
        &samples(&[("rx_count", 3.0), ("rx_freq_868100000", 3.0)]),
    )
    .await
    .unwrap();
    s.add_metrics(
        "gw:a",
        t0 + Duration::from_secs(30),
        &samples(&[("rx_count", 2.0)]),
    )
    .await
    .unwrap();
    s.add_metrics(
        "gw:a",
        t0 + Duration::from_secs(60),
        &samples(&[("rx_count", 1.0)]),
    )
    .await
    .unwrap();
    s.add_metrics("gw:b", t0, &samples(&[("rx_count", 100.0)]))
        .await
        .unwrap();

    let end = t0 + Duration::from_secs(90);
    let minutes = s
        .metrics("gw:a", Aggregation::Minute, t0, end)
        .await
        .unwrap();
    let t = |d: u64| 1_764_144_000 + d as i64;
    assert_eq!(
        minutes.keys().copied().collect::<Vec<_>>(),
        vec![t(0), t(60)]
    );
    let first = &minutes[&t(0)];
    assert_eq!((first["rx_count"].sum, first["rx_count"].count), (5.0, 2));
    assert_eq!(first["rx_count"].mean(), 2.5);
    assert_eq!(first["rx_freq_868100000"].sum, 3.0);
    assert_eq!(minutes[&t(60)]["rx_count"].sum, 1.0);
    for aggregation in [Aggregation::Hour, Aggregation::Day, Aggregation::Month] {
        let all = s.metrics("gw:a", aggregation, t0, end).await.unwrap();
        assert_eq!(all.len(), 1, "{aggregation:?}");
        let point = all.values().next().unwrap()["rx_count"];
        assert_eq!((point.sum, point.count), (6.0, 3), "{aggregation:?}");
    }
    // Out of the range: nothing.
    let later = t0 + Duration::from_secs(7200);
    assert!(
        s.metrics("gw:a", Aggregation::Minute, later, later)
            .await
            .unwrap()
            .is_empty()
    );

    // Three hours later the minutes of t0 have expired, the hours have not.
    let t3 = t0 + Duration::from_secs(3 * 3600);
    s.add_metrics("gw:a", t3, &samples(&[("rx_count", 1.0)]))
        .await
        .unwrap();
    assert!(
        s.metrics("gw:a", Aggregation::Minute, t0, end)
            .await
            .unwrap()
            .is_empty()
    );
    let hours = s.metrics("gw:a", Aggregation::Hour, t0, t3).await.unwrap();
    assert_eq!(hours.len(), 2);
    // Another owner's rows are not touched by gw:a's expiry.
    let b = s
        .metrics("gw:b", Aggregation::Minute, t0, end)
        .await
        .unwrap();
    assert_eq!(b[&t(0)]["rx_count"].sum, 100.0);
}

async fn device_keys_keep_their_join_nonce_on_update(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let keys = DeviceKeys::new(
        eui(1),
        NwkKey::from_be_bytes([1; 16]),
        AppKey::from_be_bytes([2; 16]),
    );
    assert_not_found(s.create_device_keys(&keys).await, Object::Device(eui(1)));
    s.create_device(&f.device(eui(1))).await.unwrap();
    s.create_device_keys(&keys).await.unwrap();
    assert_eq!(s.get_device_keys(eui(1)).await.unwrap(), keys);
    assert_already_exists(
        s.create_device_keys(&keys).await,
        Object::DeviceKeys(eui(1)),
    );

    let join_nonce = s
        .record_dev_nonce(eui(1), eui(0), DevNonce(1), false)
        .await
        .unwrap();
    assert_eq!(join_nonce.to_u32(), 1);
    let mut new_keys = DeviceKeys::new(
        eui(1),
        NwkKey::from_be_bytes([3; 16]),
        AppKey::from_be_bytes([4; 16]),
    );
    s.update_device_keys(&new_keys).await.unwrap();
    new_keys.join_nonce = 1;
    assert_eq!(s.get_device_keys(eui(1)).await.unwrap(), new_keys);

    s.delete_device_keys(eui(1)).await.unwrap();
    assert_not_found(s.get_device_keys(eui(1)).await, Object::DeviceKeys(eui(1)));
    assert_not_found(
        s.update_device_keys(&new_keys).await,
        Object::DeviceKeys(eui(1)),
    );
    assert_not_found(
        s.delete_device_keys(eui(1)).await,
        Object::DeviceKeys(eui(1)),
    );
    match s.record_dev_nonce(eui(1), eui(0), DevNonce(2), false).await {
        Err(NonceError::Storage(StorageError::NotFound(Object::DeviceKeys(e)))) => {
            assert_eq!(e, eui(1))
        }
        other => panic!("{other:?}"),
    }
}

async fn reused_dev_nonces_are_rejected(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.otaa_device(s, eui(1)).await;
    let (join_a, join_b) = (eui(0xa), eui(0xb));

    let nonce = |n| DevNonce(n);
    assert_eq!(
        s.record_dev_nonce(d.dev_eui, join_a, nonce(7), false)
            .await
            .unwrap()
            .to_u32(),
        1
    );
    // LoRaWAN 1.0.0-1.0.3: any unused DevNonce, in any order.
    assert_eq!(
        s.record_dev_nonce(d.dev_eui, join_a, nonce(3), false)
            .await
            .unwrap()
            .to_u32(),
        2
    );
    match s.record_dev_nonce(d.dev_eui, join_a, nonce(7), false).await {
        Err(NonceError::Reused {
            dev_eui,
            join_eui,
            dev_nonce,
        }) => {
            assert_eq!(
                (dev_eui, join_eui, dev_nonce),
                (d.dev_eui, join_a, nonce(7))
            )
        }
        other => panic!("{other:?}"),
    }
    // Reuse is refused whatever the version.
    assert!(matches!(
        s.record_dev_nonce(d.dev_eui, join_a, nonce(3), true).await,
        Err(NonceError::Reused { .. })
    ));
    // Another JoinEUI has its own DevNonces.
    assert_eq!(
        s.record_dev_nonce(d.dev_eui, join_b, nonce(7), true)
            .await
            .unwrap()
            .to_u32(),
        3
    );
    // A refused join-request does not use up a JoinNonce.
    assert_eq!(s.get_device_keys(d.dev_eui).await.unwrap().join_nonce, 3);

    // After a flush the device may start over.
    assert_eq!(s.flush_dev_nonces(d.dev_eui).await.unwrap(), 3);
    assert_eq!(
        s.record_dev_nonce(d.dev_eui, join_a, nonce(7), true)
            .await
            .unwrap()
            .to_u32(),
        4
    );
}

async fn increasing_dev_nonces_are_enforced_when_asked(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.otaa_device(s, eui(1)).await;
    let join = eui(0xa);
    s.record_dev_nonce(d.dev_eui, join, DevNonce(10), true)
        .await
        .unwrap();
    for lower in [9, 0] {
        match s
            .record_dev_nonce(d.dev_eui, join, DevNonce(lower), true)
            .await
        {
            Err(NonceError::NotIncreasing {
                dev_nonce, highest, ..
            }) => {
                assert_eq!((dev_nonce, highest), (DevNonce(lower), DevNonce(10)))
            }
            other => panic!("{other:?}"),
        }
    }
    s.record_dev_nonce(d.dev_eui, join, DevNonce(11), true)
        .await
        .unwrap();
    s.record_dev_nonce(d.dev_eui, join, DevNonce(u16::MAX), true)
        .await
        .unwrap();
    // Without the rule, a lower unused one passes.
    let join_nonce = s
        .record_dev_nonce(d.dev_eui, join, DevNonce(5), false)
        .await
        .unwrap();
    assert_eq!(join_nonce.to_u32(), 4);
}

async fn join_nonce_stops_at_24_bits(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.device(eui(1));
    s.create_device(&d).await.unwrap();
    let mut keys = DeviceKeys::new(
        d.dev_eui,
        NwkKey::from_be_bytes([1; 16]),
        AppKey::from_be_bytes([2; 16]),
    );
    keys.join_nonce = 0xff_fffe;
    s.create_device_keys(&keys).await.unwrap();

    let last = s
        .record_dev_nonce(d.dev_eui, eui(0), DevNonce(1), true)
        .await
        .unwrap();
    assert_eq!(last.to_u32(), 0xff_ffff);
    match s
        .record_dev_nonce(d.dev_eui, eui(0), DevNonce(2), true)
        .await
    {
        Err(NonceError::JoinNonceExhausted { dev_eui }) => assert_eq!(dev_eui, d.dev_eui),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.get_device_keys(d.dev_eui).await.unwrap().join_nonce,
        0xff_ffff
    );
    // The refused DevNonce was not recorded.
    s.update_device_keys(&keys).await.unwrap();
    assert!(matches!(
        s.record_dev_nonce(d.dev_eui, eui(0), DevNonce(2), true)
            .await,
        Err(NonceError::JoinNonceExhausted { .. })
    ));
}

async fn concurrent_joins_with_one_dev_nonce_win_exactly_once(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    for round in 0..5u64 {
        let d = f.otaa_device(s, eui(100 + round)).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(6));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.record_dev_nonce(d.dev_eui, eui(0xa), DevNonce(42), true)
                        .await
                })
            })
            .collect();
        let mut accepted = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(join_nonce) => accepted.push(join_nonce.to_u32()),
                Err(NonceError::Reused { .. }) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(accepted, [1], "round {round}");
        assert_eq!(s.get_device_keys(d.dev_eui).await.unwrap().join_nonce, 1);
    }
}

async fn concurrent_joins_get_distinct_join_nonces(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.otaa_device(s, eui(1)).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8u16)
        .map(|n| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                s.record_dev_nonce(d.dev_eui, eui(0xa), DevNonce(n), false)
                    .await
                    .unwrap()
                    .to_u32()
            })
        })
        .collect();
    let mut join_nonces = Vec::new();
    for task in tasks {
        join_nonces.push(task.await.unwrap());
    }
    join_nonces.sort_unstable();
    assert_eq!(join_nonces, (1..=8).collect::<Vec<_>>());
}

async fn queue_keeps_order_and_skips_pending_and_expired(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.device(eui(1));
    s.create_device(&d).await.unwrap();
    let now = micros(SystemTime::now());
    assert_eq!(s.next_queue_item(d.dev_eui, now).await.unwrap(), None);

    // Items of the same microsecond stay in insertion order; earlier
    // created_at goes first whatever the insertion order.
    let item = |port: u8, created_at: SystemTime| {
        let mut i = QueueItem::new(d.dev_eui, port, false, vec![port; 3]);
        i.created_at = created_at;
        i
    };
    let mut pending = item(1, now);
    pending.confirmed = true;
    pending.is_pending = true;
    pending.f_cnt_down = Some(0x1_0001);
    pending.timeout_after = Some(now + Duration::from_secs(5));
    let mut expired = item(2, now);
    expired.expires_at = Some(now - Duration::from_secs(1));
    let mut due = item(3, now);
    due.expires_at = Some(now + Duration::from_secs(60));
    let later = item(4, now);
    let earliest = item(5, now - Duration::from_millis(1));
    for i in [&pending, &expired, &due, &later, &earliest] {
        s.enqueue(i).await.unwrap();
    }

    let all = s.list_queue_items(d.dev_eui).await.unwrap();
    assert_eq!(
        all,
        [
            earliest.clone(),
            pending.clone(),
            expired.clone(),
            due.clone(),
            later.clone()
        ]
    );
    assert_eq!(s.get_queue_item(pending.id).await.unwrap(), pending);
    assert_eq!(
        s.next_queue_item(d.dev_eui, now).await.unwrap(),
        Some(earliest.clone())
    );
    s.delete_queue_item(earliest.id).await.unwrap();
    assert_eq!(
        s.next_queue_item(d.dev_eui, now).await.unwrap(),
        Some(due.clone())
    );
    // An item expires at its expires_at.
    let at_expiry = due.expires_at.unwrap();
    assert_eq!(
        s.next_queue_item(d.dev_eui, at_expiry).await.unwrap(),
        Some(later.clone())
    );

    // Expired, unsent items are removed for reporting; pending ones stay.
    let mut expired_pending = item(6, now);
    expired_pending.is_pending = true;
    expired_pending.expires_at = Some(now - Duration::from_secs(1));
    s.enqueue(&expired_pending).await.unwrap();
    assert_eq!(
        s.delete_expired_queue_items(d.dev_eui, at_expiry)
            .await
            .unwrap(),
        [expired.clone(), due.clone()]
    );
    assert_eq!(
        s.list_queue_items(d.dev_eui).await.unwrap(),
        [pending, later, expired_pending]
    );
}

async fn queue_items_are_updated_deleted_and_flushed(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let d = f.device(eui(1));
    s.create_device(&d).await.unwrap();
    let mut item = QueueItem::new(d.dev_eui, 10, true, b"hello".to_vec());
    item.created_at = micros(item.created_at);
    assert_not_found(
        s.enqueue(&QueueItem::new(eui(2), 1, false, vec![])).await,
        Object::Device(eui(2)),
    );
    s.enqueue(&item).await.unwrap();
    assert_already_exists(s.enqueue(&item).await, Object::QueueItem(item.id));

    item.is_pending = true;
    item.f_cnt_down = Some(u32::MAX);
    item.timeout_after = Some(micros(SystemTime::now()));
    // Only what sending changes is written.
    let mut sent = item.clone();
    sent.data = b"ignored".to_vec();
    s.update_queue_item(&sent).await.unwrap();
    assert_eq!(s.get_queue_item(item.id).await.unwrap(), item);

    s.delete_queue_item(item.id).await.unwrap();
    assert_not_found(s.get_queue_item(item.id).await, Object::QueueItem(item.id));
    assert_not_found(s.update_queue_item(&item).await, Object::QueueItem(item.id));
    assert_not_found(
        s.delete_queue_item(item.id).await,
        Object::QueueItem(item.id),
    );

    for port in 1..=3 {
        s.enqueue(&QueueItem::new(d.dev_eui, port, false, vec![]))
            .await
            .unwrap();
    }
    assert_eq!(s.flush_queue(d.dev_eui).await.unwrap(), 3);
    assert!(s.list_queue_items(d.dev_eui).await.unwrap().is_empty());
    assert_eq!(s.flush_queue(d.dev_eui).await.unwrap(), 0);
}

async fn gateways_are_created_listed_updated_and_deleted(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let other = Tenant::new("other");
    s.create_tenant(&other).await.unwrap();

    let mut roof = Gateway::new(eui(0xaa), f.tenant.id, "roof");
    roof.latitude = 52.3676;
    roof.longitude = -4.9041;
    roof.altitude = 12.5;
    roof.last_seen_at = Some(micros(SystemTime::now()));
    let cellar = Gateway::new(eui(0xbb), f.tenant.id, "cellar");
    let mast = Gateway::new(eui(0xcc), other.id, "mast");
    for g in [&roof, &cellar, &mast] {
        s.create_gateway(g).await.unwrap();
    }
    assert_eq!(s.get_gateway(roof.gateway_id).await.unwrap(), roof);
    assert_already_exists(
        s.create_gateway(&roof).await,
        Object::Gateway(roof.gateway_id),
    );
    let orphan = Gateway::new(eui(0xdd), Uuid::new_v4(), "orphan");
    assert_not_found(
        s.create_gateway(&orphan).await,
        Object::Tenant(orphan.tenant_id),
    );

    assert_eq!(
        s.list_gateways(Some(f.tenant.id), &ListQuery::page(10, 0))
            .await
            .unwrap()
            .items,
        [cellar.clone(), roof.clone()]
    );
    assert_eq!(
        s.list_gateways(None, &ListQuery::page(2, 1))
            .await
            .unwrap()
            .items,
        [mast.clone(), roof.clone()]
    );

    // Moved to another tenant; last_seen_at is not the update's.
    let mut moved = roof.clone();
    moved.tenant_id = other.id;
    moved.name = "roof 2".into();
    moved.altitude = -3.0;
    moved.last_seen_at = None;
    s.update_gateway(&moved).await.unwrap();
    moved.last_seen_at = roof.last_seen_at;
    assert_eq!(s.get_gateway(roof.gateway_id).await.unwrap(), moved);
    let mut nowhere = moved.clone();
    nowhere.tenant_id = Uuid::new_v4();
    assert_not_found(
        s.update_gateway(&nowhere).await,
        Object::Tenant(nowhere.tenant_id),
    );

    s.delete_gateway(roof.gateway_id).await.unwrap();
    assert_not_found(
        s.get_gateway(roof.gateway_id).await,
        Object::Gateway(roof.gateway_id),
    );
    assert_not_found(
        s.update_gateway(&moved).await,
        Object::Gateway(roof.gateway_id),
    );
    assert_not_found(
        s.delete_gateway(roof.gateway_id).await,
        Object::Gateway(roof.gateway_id),
    );
}

async fn deletes_cascade(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let counts = || async {
        [
            db.count("SELECT count(*) FROM application").await,
            db.count("SELECT count(*) FROM device_profile").await,
            db.count("SELECT count(*) FROM device").await,
            db.count("SELECT count(*) FROM device_keys").await,
            db.count("SELECT count(*) FROM dev_nonce").await,
            db.count("SELECT count(*) FROM device_queue_item").await,
            db.count("SELECT count(*) FROM gateway").await,
            db.count("SELECT count(*) FROM api_key").await,
        ]
    };
    let populate = |n: u64| {
        let f = &f;
        async move {
            let d = f.otaa_device(s, eui(n)).await;
            s.record_dev_nonce(d.dev_eui, eui(0), DevNonce(1), false)
                .await
                .unwrap();
            s.enqueue(&QueueItem::new(d.dev_eui, 1, false, vec![]))
                .await
                .unwrap();
            d
        }
    };

    // Device keys take their DevNonces.
    let d = populate(1).await;
    s.delete_device_keys(d.dev_eui).await.unwrap();
    assert_eq!(counts().await, [1, 1, 1, 0, 0, 1, 0, 0]);
    // A device takes its keys, DevNonces and queue.
    s.create_device_keys(&DeviceKeys::new(
        d.dev_eui,
        NwkKey::default(),
        AppKey::default(),
    ))
    .await
    .unwrap();
    s.delete_device(d.dev_eui).await.unwrap();
    assert_eq!(counts().await, [1, 1, 0, 0, 0, 0, 0, 0]);
    // An application and a device profile take their devices.
    populate(2).await;
    s.delete_application(f.app.id).await.unwrap();
    assert_eq!(counts().await, [0, 1, 0, 0, 0, 0, 0, 0]);
    s.create_application(&f.app).await.unwrap();
    populate(3).await;
    s.delete_device_profile(f.profile.id).await.unwrap();
    assert_eq!(counts().await, [1, 0, 0, 0, 0, 0, 0, 0]);
    // A tenant takes everything of its own, API keys included.
    s.create_device_profile(&f.profile).await.unwrap();
    populate(4).await;
    s.create_gateway(&Gateway::new(eui(0xaa), f.tenant.id, "roof"))
        .await
        .unwrap();
    let key = format!(
        "INSERT INTO api_key (id, created_at, name, is_admin, tenant_id) \
         VALUES ({id}, '2026-01-01T00:00:00+00:00', 'ci', false, {tenant})",
        id = "{id}",
        tenant = "{tenant}"
    );
    let (sqlite_key, postgres_key) = (
        key.replace("{id}", &format!("x'{}'", Uuid::new_v4().simple()))
            .replace("{tenant}", &format!("x'{}'", f.tenant.id.simple())),
        key.replace("{id}", &format!("'{}'", Uuid::new_v4()))
            .replace("{tenant}", &format!("'{}'", f.tenant.id)),
    );
    db.exec(&sqlite_key, &postgres_key).await;
    assert_eq!(counts().await, [1, 1, 1, 1, 1, 1, 1, 1]);
    s.delete_tenant(f.tenant.id).await.unwrap();
    assert_eq!(counts().await, [0; 8]);
}

async fn unreadable_sessions_are_reported_as_corrupt(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let mut d = f.device(eui(1));
    d.session = Some(session(0x2601_0001, 1));
    s.create_device(&d).await.unwrap();
    db.exec(
        r#"UPDATE device SET device_session = '{"dev_addr": 5}'"#,
        r#"UPDATE device SET device_session = '{"dev_addr": 5}'"#,
    )
    .await;
    match s.get_device(d.dev_eui).await {
        Err(StorageError::Corrupt { object, reason }) => {
            assert_eq!(object, Object::Device(d.dev_eui));
            assert!(reason.contains("device_session"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        s.devices_by_dev_addr(DevAddr::from_u32(0x2601_0001)).await,
        Err(StorageError::Corrupt { .. })
    ));
}

async fn reconnecting_keeps_data(db: &TestDb) {
    let s = &db.storage;
    let tenant = Tenant::new("acme");
    s.create_tenant(&tenant).await.unwrap();
    // A second pool on the same database: migrations already applied.
    let again = Storage::connect(&db.url).await.unwrap();
    assert_eq!(again.get_tenant(tenant.id).await.unwrap(), tenant);
    again.close().await;
}

#[tokio::test]
async fn in_memory_sqlite_is_private_to_its_storage() {
    let one = Storage::connect("sqlite::memory:").await.unwrap();
    let two = Storage::connect("sqlite::memory:").await.unwrap();
    let tenant = Tenant::new("acme");
    one.create_tenant(&tenant).await.unwrap();
    assert_eq!(one.get_tenant(tenant.id).await.unwrap(), tenant);
    assert_not_found(two.get_tenant(tenant.id).await, Object::Tenant(tenant.id));
}

#[tokio::test]
async fn unknown_url_schemes_are_refused_without_echoing_the_url() {
    let err = Storage::connect("mysql://root:secret@localhost/ns")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::UnsupportedUrl { scheme } if scheme == "mysql"),
        "{err:?}"
    );
    assert!(!err.to_string().contains("secret"));
}

// ---------------------------------------------------------------------------
// The class C scheduler's claim

/// A stored class C device with a session (and `items` unsent queue
/// items).
async fn class_c_device(s: &Storage, f: &Fixture, n: u64, items: usize) -> Device {
    let mut d = f.device(eui(n));
    d.enabled_class = DeviceClass::C;
    d.session = Some(session(0x2601_0000 + n as u32, 10));
    s.create_device(&d).await.unwrap();
    for _ in 0..items {
        s.enqueue(&QueueItem::new(d.dev_eui, 10, false, vec![1]))
            .await
            .unwrap();
    }
    d
}

async fn claim(s: &Storage, now: SystemTime, limit: usize) -> Vec<Eui64> {
    let mut claimed = s
        .claim_class_c_devices(now, now + Duration::from_secs(2), limit)
        .await
        .unwrap();
    claimed.sort();
    claimed
}

async fn class_c_claim_takes_only_due_class_c_devices_with_items(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let now = micros(SystemTime::now());
    let due = class_c_device(s, &f, 1, 2).await;
    // Class A, with an item.
    let mut class_a = class_c_device(s, &f, 2, 1).await;
    class_a.enabled_class = DeviceClass::A;
    s.update_device(&class_a).await.unwrap();
    // Class C without items.
    class_c_device(s, &f, 3, 0).await;
    // Class C with an item, no session.
    s.set_session(class_c_device(s, &f, 4, 1).await.dev_eui, None)
        .await
        .unwrap();
    // Disabled.
    let mut disabled = class_c_device(s, &f, 5, 1).await;
    disabled.is_disabled = true;
    s.update_device(&disabled).await.unwrap();
    // Locked (a class A or class C downlink in flight).
    let locked = class_c_device(s, &f, 6, 1).await;
    s.set_scheduler_run_after(locked.dev_eui, now + Duration::from_secs(1))
        .await
        .unwrap();
    // A confirmed item waiting for its ACK, and one whose wait is over.
    for (n, timeout) in [
        (7, now + Duration::from_secs(5)),
        (8, now - Duration::from_secs(1)),
    ] {
        let d = class_c_device(s, &f, n, 0).await;
        let mut item = QueueItem::new(d.dev_eui, 10, true, vec![1]);
        item.is_pending = true;
        item.f_cnt_down = Some(3);
        item.timeout_after = Some(timeout);
        s.enqueue(&item).await.unwrap();
        s.enqueue(&QueueItem::new(d.dev_eui, 10, false, vec![2]))
            .await
            .unwrap();
    }
    // A lock that has run out.
    let unlocked = class_c_device(s, &f, 9, 1).await;
    s.set_scheduler_run_after(unlocked.dev_eui, now - Duration::from_millis(1))
        .await
        .unwrap();

    assert_eq!(claim(s, now, 100).await, [due.dev_eui, eui(8), eui(9)]);
    // The locked device comes due when its lock ends.
    assert_eq!(
        claim(s, now + Duration::from_secs(1), 100).await,
        [locked.dev_eui]
    );
    assert!(
        s.claim_class_c_devices(now, now, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn class_c_claim_leases_the_devices_it_returns(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    let now = micros(SystemTime::now());
    for n in 1..=3 {
        class_c_device(s, &f, n, 1).await;
    }
    // The limit, the longest-waiting (never claimed) first.
    let first = claim(s, now, 2).await;
    assert_eq!(first, [eui(1), eui(2)]);
    assert_eq!(
        s.scheduler_run_after(eui(1)).await.unwrap(),
        Some(now + Duration::from_secs(2))
    );
    assert_eq!(s.scheduler_run_after(eui(3)).await.unwrap(), None);
    assert_eq!(claim(s, now, 10).await, [eui(3)]);
    // Leased: nothing is due until the lease ends.
    assert!(claim(s, now + Duration::from_secs(1), 10).await.is_empty());
    assert_eq!(
        claim(s, now + Duration::from_secs(2), 10).await,
        [eui(1), eui(2), eui(3)]
    );
    // An unknown device has no lease to set.
    assert_not_found(
        s.set_scheduler_run_after(eui(99), now).await,
        Object::Device(eui(99)),
    );
}

async fn concurrent_class_c_claims_never_return_a_device_twice(db: &TestDb) {
    let s = &db.storage;
    let f = fixture(s).await;
    const DEVICES: u64 = 40;
    for n in 1..=DEVICES {
        class_c_device(s, &f, n, 1).await;
    }
    let mut now = micros(SystemTime::now());
    for round in 0..3 {
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (s, barrier) = (s.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    s.claim_class_c_devices(now, now + Duration::from_secs(2), 15)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            let claimed = task.await.unwrap();
            assert!(claimed.len() <= 15);
            all.extend(claimed);
        }
        // SKIP LOCKED may leave a device to the next run, never give it twice.
        all.extend(
            s.claim_class_c_devices(now, now + Duration::from_secs(2), 100)
                .await
                .unwrap(),
        );
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            all.len(),
            "round {round}: a device claimed twice"
        );
        assert_eq!(all.len() as u64, DEVICES, "round {round}");
        now += Duration::from_secs(3);
    }
}

/// A batch assigns `last_seen_at`, `gateway_rx_info` and
/// `scheduler_run_after` as soon as one of its rows sets them: the rows that
/// do not must keep what is stored.
async fn mixed_session_batches_keep_what_a_row_does_not_set(db: &TestDb) {
    use ns_core::model::DeviceGatewayRxInfo;
    use packet_forwarder::gw;
    let s = &db.storage;
    let f = fixture(s).await;
    let a = class_c_device(s, &f, 1, 0).await;
    let b = class_c_device(s, &f, 2, 0).await;
    let heard = |id: &str| {
        [gw::UplinkRxInfo {
            gateway_id: id.into(),
            rssi: -80,
            snr: 2.0,
            ..Default::default()
        }]
    };
    let old_info = DeviceGatewayRxInfo::from_rx_infos("eu868", 3, &heard("0101010101010101"));
    let new_info = DeviceGatewayRxInfo::from_rx_infos("eu868", 5, &heard("0202020202020202"));
    let old_lock = micros(SystemTime::now() + Duration::from_secs(5));
    let new_lock = micros(SystemTime::now() + Duration::from_secs(9));
    let seen_b = micros(SystemTime::now() - Duration::from_secs(60));
    s.set_gateway_rx_info(b.dev_eui, &old_info, old_lock)
        .await
        .unwrap();
    s.update_device_last_seen(b.dev_eui, seen_b).await.unwrap();

    // Device 1 sets all three; device 2, in the same statement, none.
    let seen_a = micros(SystemTime::now());
    let next_a = session(0x2601_0001, 11);
    let next_b = session(0x2601_0002, 11);
    let made = s
        .update_sessions_if_fcnt(&[
            SessionUpdate {
                seen_at: Some(seen_a),
                gateway_rx_info: Some(&new_info),
                scheduler_run_after: Some(new_lock),
                ..SessionUpdate::new(a.dev_eui, 10, &next_a)
            },
            SessionUpdate::new(b.dev_eui, 10, &next_b),
        ])
        .await
        .unwrap();
    assert_eq!(made, [true, true]);
    for (dev_eui, next, seen, info, lock) in [
        (a.dev_eui, next_a, seen_a, &new_info, new_lock),
        (b.dev_eui, next_b, seen_b, &old_info, old_lock),
    ] {
        let got = s.get_device(dev_eui).await.unwrap();
        assert_eq!(got.session, Some(next), "{dev_eui}");
        assert_eq!(got.last_seen_at, Some(seen), "{dev_eui}");
        assert_eq!(
            s.device_gateway_rx_info(dev_eui).await.unwrap().as_ref(),
            Some(info),
            "{dev_eui}"
        );
        assert_eq!(
            s.scheduler_run_after(dev_eui).await.unwrap(),
            Some(lock),
            "{dev_eui}"
        );
    }
}

async fn session_writes_keep_the_gateway_rx_info_and_the_class_a_lock(db: &TestDb) {
    use ns_core::model::DeviceGatewayRxInfo;
    use packet_forwarder::gw;
    let s = &db.storage;
    let f = fixture(s).await;
    let d = class_c_device(s, &f, 1, 1).await;
    assert_eq!(s.device_gateway_rx_info(d.dev_eui).await.unwrap(), None);
    let heard = [
        gw::UplinkRxInfo {
            gateway_id: "0101010101010101".into(),
            rssi: -70,
            snr: 7.5,
            board: 1,
            antenna: 2,
            context: vec![1, 2, 3, 4],
            ..Default::default()
        },
        gw::UplinkRxInfo {
            gateway_id: "0202020202020202".into(),
            rssi: -100,
            snr: -3.25,
            ..Default::default()
        },
    ];
    let rx_info = DeviceGatewayRxInfo::from_rx_infos("eu868", 5, &heard);
    let lock = micros(SystemTime::now() + Duration::from_secs(5));
    let next = session(0x2601_0001, 11);
    let update = SessionUpdate {
        gateway_rx_info: Some(&rx_info),
        scheduler_run_after: Some(lock),
        ..SessionUpdate::new(d.dev_eui, 10, &next)
    };
    assert_eq!(s.update_sessions_if_fcnt(&[update]).await.unwrap(), [true]);
    assert_eq!(
        s.device_gateway_rx_info(d.dev_eui).await.unwrap().as_ref(),
        Some(&rx_info)
    );
    assert_eq!(s.scheduler_run_after(d.dev_eui).await.unwrap(), Some(lock));
    // A write without them (a TX ack's counters) keeps both.
    assert!(
        s.update_session_if_fcnt(d.dev_eui, 11, &session(0x2601_0001, 11))
            .await
            .unwrap()
    );
    let found = s.scheduled_devices(&[d.dev_eui, eui(99)]).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].device.dev_eui, d.dev_eui);
    assert_eq!(found[0].profile.id, f.profile.id);
    assert_eq!(found[0].gateway_rx_info.as_ref(), Some(&rx_info));
    assert_eq!(s.scheduler_run_after(d.dev_eui).await.unwrap(), Some(lock));
    // A refused write (stale FCntUp) changes neither.
    let other = DeviceGatewayRxInfo::from_rx_infos("eu868", 0, &heard[1..]);
    let stale = SessionUpdate {
        gateway_rx_info: Some(&other),
        ..SessionUpdate::new(d.dev_eui, 10, &next)
    };
    assert_eq!(s.update_sessions_if_fcnt(&[stale]).await.unwrap(), [false]);
    assert_eq!(
        s.device_gateway_rx_info(d.dev_eui).await.unwrap().as_ref(),
        Some(&rx_info)
    );
    assert!(s.scheduled_devices(&[]).await.unwrap().is_empty());
    // A join stores both on their own.
    let later = micros(SystemTime::now() + Duration::from_secs(11));
    s.set_gateway_rx_info(d.dev_eui, &other, later)
        .await
        .unwrap();
    assert_eq!(
        s.device_gateway_rx_info(d.dev_eui).await.unwrap().as_ref(),
        Some(&other)
    );
    assert_eq!(s.scheduler_run_after(d.dev_eui).await.unwrap(), Some(later));
    assert!(matches!(
        s.set_gateway_rx_info(eui(99), &other, later).await,
        Err(StorageError::NotFound(_))
    ));
}

#[tokio::test]
async fn sqlite_pragmas_run_on_every_new_connection() {
    use ns_core::storage::StorageOptions;
    use sqlx::Connection;

    let dir = std::env::temp_dir().join(format!("ns-core-pragmas-{}", Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/ns.sqlite?mode=rwc", dir.display());
    let options = StorageOptions::default().sqlite_pragmas(vec!["user_version = 7".into()]);
    let storage = Storage::connect_with(&url, &options).await.unwrap();
    storage.create_tenant(&Tenant::new("t")).await.unwrap();
    storage.close().await;
    // `user_version` is kept in the file's header: another connection,
    // without the pragma, reads what the pool's connections set.
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (version,): (i64,) = sqlx::query_as("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version, 7);
    conn.close().await.unwrap();

    // A pragma SQLite refuses fails the connection, with SQLite's message.
    let bad = StorageOptions::default().sqlite_pragmas(vec!["user_version = = 7".into()]);
    let err = Storage::connect_with(&url, &bad).await.unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}
