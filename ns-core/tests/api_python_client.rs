//! Our management API driven by ChirpStack's official Python client (the
//! PyPI `chirpstack-api` stubs over `grpcio`), on SQLite and PostgreSQL:
//! tests/python/client_api.py logs in as the test's global admin and calls
//! every method the management API issue lists (69 of the 7 services: tenants
//! and their users, users, applications and HTTP integrations, device
//! profiles, devices with keys, activation and queue, gateways, API keys,
//! search, summaries, regions, version, the live streams), checks what a
//! tenant key and no token may do, and deletes it all, asserting every reply;
//! it fails if the set of methods called is not that list.
//!
//! Needs `python3` with `chirpstack_api` and `grpc` (scripts/ensure-services
//! installs them); without them this test fails rather than skips, since it
//! is the proof that ChirpStack's own client works against us.

#[macro_use]
#[path = "support/db.rs"]
mod db;
#[macro_use]
#[path = "support/api.rs"]
mod api;

// The runner the gw, integration and api descriptor cross-checks use too.
#[path = "../../packet-forwarder/tests/support/python_check.rs"]
mod python_check;

use api::TestApi;
use db::TestDb;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_api.py");

/// The admin's password for the script's Login.
const PASSWORD: &str = "correct horse battery staple";

api_on_both_backends!(chirpstack_python_client_round_trip);

async fn chirpstack_python_client_round_trip(api: &TestApi) {
    let hash = api.state.hasher.hash(PASSWORD);
    api.db
        .storage
        .set_user_password_hash(api.admin_user.id, &hash)
        .await
        .unwrap();
    let address = api.server.local_addr().to_string();
    let email = api.admin_user.email.clone();
    // The script blocks for a while; the server keeps the runtime's workers.
    let run = tokio::task::spawn_blocking(move || {
        python_check::run_python(SCRIPT.as_ref(), &[&address, &email, PASSWORD]);
    })
    .await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}
