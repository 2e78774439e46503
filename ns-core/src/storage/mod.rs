//! Storage: the network server's records in SQLite or PostgreSQL.
//!
//! [`Storage::connect`] picks the backend from the URL at run time
//! (`sqlite://path?mode=rwc`, `sqlite::memory:`, `postgres://…`), opens a
//! connection pool and applies the embedded schema migrations
//! (`ns-core/migrations/sqlite` or `ns-core/migrations/postgres`, native
//! SQL for each). Both backends are always compiled in.
//!
//! One `Storage` is shared by every task of a server (it is a cheap
//! [`Clone`] of a pool). Several server instances may share one PostgreSQL
//! database: the two writes that decide what is processed, the frame
//! counter ([`Storage::update_session_if_fcnt`]) and the DevNonce
//! ([`Storage::record_dev_nonce`]), are atomic in the database, so an
//! uplink or a join-request is accepted once however many instances see it.
//!
//! Times are stored to the microsecond; every time a query compares with
//! (`now`) is passed in, never read from the database's clock.
//!
//! ```
//! use ns_core::model::{Application, Tenant};
//! use ns_core::storage::{Storage, StorageError};
//!
//! # async fn demo() -> Result<(), StorageError> {
//! let storage = Storage::connect("sqlite::memory:").await?;
//! let tenant = Tenant::new("acme");
//! storage.create_tenant(&tenant).await?;
//! let app = Application::new(tenant.id, "meters");
//! storage.create_application(&app).await?;
//!
//! assert_eq!(storage.get_application(app.id).await?.name, "meters");
//! storage.delete_tenant(tenant.id).await?; // and its applications
//! assert!(matches!(
//!     storage.get_application(app.id).await,
//!     Err(StorageError::NotFound(_))
//! ));
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread()
//! #     .enable_all()
//! #     .build()
//! #     .unwrap()
//! #     .block_on(demo())
//! #     .unwrap();
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

mod checkpoint;
mod device;
mod error;
mod gateway;
pub mod integration;
mod list;
mod metrics;
mod queue;
mod rows;
mod scheduler;
mod search;
mod tenancy;
mod user;

pub use device::SessionUpdate;
pub use error::{NonceError, Object, StorageError};
pub use list::{ListQuery, OrderBy, Page};
pub use scheduler::ScheduledDevice;
pub use search::{DevicesSummary, Found, GatewaysSummary, Scope, seen_within};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Runs `$body` with `$pool` bound to the backend's pool. The body is
/// compiled once per backend, so the same query text is type-checked
/// against each driver; where the dialects differ, [`Storage::dialect`]
/// picks the text.
macro_rules! with_pool {
    ($storage:expr, $pool:ident => $body:expr) => {
        match &$storage.pool {
            $crate::storage::Pool::Sqlite($pool) => $body,
            $crate::storage::Pool::Postgres($pool) => $body,
        }
    };
}
use with_pool;

/// Runs the statement `$sql` with the parameters bound in order, on either
/// backend: the number of rows it wrote.
macro_rules! execute {
    ($storage:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $crate::storage::with_pool!($storage, pool => {
            sqlx::query($sql)
                $(.bind($bind))*
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
    };
}
use execute;

/// Runs the write by key `$sql` (an update or a delete of one row) on
/// either backend: `NotFound(object)` if it touched no row, and a failure
/// classified as about `object`.
macro_rules! execute_by_key {
    ($storage:expr, $object:expr, $sql:expr $(, $bind:expr)* $(,)?) => {{
        let object = $object;
        $crate::storage::execute!($storage, $sql $(, $bind)*)
            .map_err($crate::storage::error::db_error(object))
            .and_then(|rows| $crate::storage::error::touched(rows, object))
    }};
}
use execute_by_key;

/// Runs the query `$sql` with the parameters bound in order, on either
/// backend, and reads its rows with `$fetch` (`fetch_one`, `fetch_all`,
/// `fetch_optional`) as the row type the caller expects.
macro_rules! fetch {
    ($storage:expr, $fetch:ident, $sql:expr $(, $bind:expr)* $(,)?) => {
        $crate::storage::with_pool!($storage, pool => {
            sqlx::query_as($sql)$(.bind($bind))*.$fetch(pool).await
        })
    };
}
use fetch;

/// Runs the insert `$insert` (an expression of the transaction `$tx`, the
/// driver's result) if the tenant `$tenant` has fewer than `$max` of the
/// rows `$count` (a query of the tenant id, `$1`) counts, both in one
/// transaction: on SQLite `BEGIN IMMEDIATE` takes the write lock before the
/// count, on PostgreSQL the tenant's row stays locked until the commit, so
/// that no concurrent insert comes between the count and this one.
///
/// Returns from the enclosing function with a [`StorageError::Conflict`]
/// naming `$limit` if the tenant is at its limit, or with the database's
/// error; evaluates to the insert's own result (the transaction rolled
/// back on an error), for the caller to classify.
macro_rules! insert_within_limit {
    (
        $storage:expr, $tenant:expr, $max:expr, $limit:literal, $count:literal,
        |$tx:ident| $insert:expr
    ) => {{
        let storage: &$crate::storage::Storage = $storage;
        let tenant: uuid::Uuid = $tenant;
        let max: u32 = $max;
        let object = $crate::storage::Object::Tenant(tenant);
        let on_db = $crate::storage::error::db_error;
        $crate::storage::with_pool!(storage, pool => {
            let mut $tx = pool
                .begin_with(storage.dialect("BEGIN IMMEDIATE", "BEGIN"))
                .await
                .map_err(on_db(object))?;
            if storage.backend() == $crate::storage::Backend::Postgres {
                sqlx::query("SELECT 1 FROM tenant WHERE id = $1 FOR UPDATE")
                    .bind(tenant)
                    .execute(&mut *$tx)
                    .await
                    .map_err(on_db(object))?;
            }
            let (n,): (i64,) = sqlx::query_as($count)
                .bind(tenant)
                .fetch_one(&mut *$tx)
                .await
                .map_err(on_db(object))?;
            if n >= i64::from(max) {
                return Err($crate::storage::StorageError::Conflict {
                    object,
                    reason: format!("the tenant has reached its {} ({max})", $limit),
                });
            }
            let inserted: Result<(), sqlx::Error> = match $insert {
                Ok(_) => {
                    $tx.commit().await.map_err(on_db(object))?;
                    Ok(())
                }
                Err(e) => {
                    let _ = $tx.rollback().await;
                    Err(e)
                }
            };
            inserted
        })
    }};
}
use insert_within_limit;

/// The database behind a [`Storage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Backend {
    /// SQLite: a file, or memory (the all-in-one server's default).
    Sqlite,
    /// PostgreSQL: shared by several server instances.
    Postgres,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StorageOptions {
    /// The most connections the pool opens (default: 4 for an SQLite file,
    /// 10 for PostgreSQL; an in-memory SQLite database always has one).
    pub max_connections: Option<u32>,
    /// How long an SQLite connection waits for another's write lock before
    /// failing (default 5 s).
    pub busy_timeout: Duration,
    /// Told whenever a connection is taken from the pool.
    pub observer: Option<Arc<dyn PoolObserver>>,
    /// SQLite: statements each new connection runs as `PRAGMA {statement}`
    /// after its own settings (`"wal_autocheckpoint = 4000"`), `[sqlite]
    /// pragmas` of the configuration.
    pub sqlite_pragmas: Vec<String>,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            busy_timeout: Duration::from_secs(5),
            observer: None,
            sqlite_pragmas: Vec::new(),
        }
    }
}

impl StorageOptions {
    /// Sets [`Self::max_connections`].
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Sets [`Self::busy_timeout`].
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// Sets [`Self::sqlite_pragmas`].
    pub fn sqlite_pragmas(mut self, pragmas: Vec<String>) -> Self {
        self.sqlite_pragmas = pragmas;
        self
    }

    /// Sets [`Self::observer`].
    pub fn observer(mut self, observer: Arc<dyn PoolObserver>) -> Self {
        self.observer = Some(observer);
        self
    }
}

/// Told whenever a pooled connection is taken for work: for
/// instrumentation, and for tests on a paused tokio clock, which must not
/// let simulated time jump while the database works on a thread tokio
/// cannot see (SQLite runs on a worker thread of its own); with
/// [`Storage::connections`] such a test can tell when the pool is idle
/// again.
///
/// Called on the task about to use the connection, before it does; must
/// not block. A connection the pool opens for a waiting caller is handed
/// out without the call.
pub trait PoolObserver: Send + Sync + fmt::Debug + 'static {
    /// A connection was taken from the idle ones for a query or a
    /// transaction.
    fn taken(&self);
}

/// How many connections a [`Storage`] holds open, and how many of them are
/// idle in its pool ([`Storage::connections`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Connections {
    /// Connections open.
    pub open: u32,
    /// Of those, the ones in the pool, not in use nor being given back.
    pub idle: usize,
}

/// `pool` telling `observer`, if any, of every connection taken.
fn observed<DB: sqlx::Database>(
    pool: sqlx::pool::PoolOptions<DB>,
    observer: Option<&Arc<dyn PoolObserver>>,
) -> sqlx::pool::PoolOptions<DB> {
    let Some(observer) = observer else {
        return pool;
    };
    let observer = Arc::clone(observer);
    pool.before_acquire(move |_, _| {
        observer.taken();
        Box::pin(async { Ok(true) })
    })
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The network server's storage: a pool of connections to SQLite or
/// PostgreSQL, with an operation per thing the server reads or writes.
///
/// See the [module documentation](self) for an example.
#[derive(Clone)]
pub struct Storage {
    pool: Pool,
    /// An SQLite file's WAL checkpoints, stopped with the last clone.
    checkpointer: Option<Arc<checkpoint::Checkpointer>>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Connects to the database at `url` with default [`StorageOptions`]
    /// and migrates its schema to this version.
    ///
    /// `sqlite:` URLs open SQLite (`sqlite://ns.sqlite?mode=rwc` creates
    /// the file; `sqlite::memory:` is a private in-memory database),
    /// `postgres://` and `postgresql://` URLs open PostgreSQL.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, &StorageOptions::default()).await
    }

    /// Connects to the database at `url` and migrates its schema.
    ///
    /// SQLite connections run with `journal_mode = WAL` (readers do not
    /// wait for the writer), `foreign_keys = ON` (deletes cascade) and
    /// `busy_timeout` (writers wait for each other). With an SQLite file,
    /// a thread of the `Storage`'s own (`sqlite-checkpoint`) copies the
    /// write-ahead log back into the database as it grows, so that a
    /// commit's checkpoint finds little left to copy; it stops with
    /// [`Self::close`] or the last clone's drop.
    pub async fn connect_with(url: &str, options: &StorageOptions) -> Result<Self, StorageError> {
        let scheme = url.split(':').next().unwrap_or_default();
        let connect_error = |source| StorageError::Db {
            object: Object::Database,
            source,
        };
        let mut checkpointer_of_pool = None;
        let pool = match scheme {
            "sqlite" => {
                let connect = SqliteConnectOptions::from_str(url)
                    .map_err(connect_error)?
                    .journal_mode(SqliteJournalMode::Wal)
                    // WAL with NORMAL sync: a commit is not fsynced (a
                    // power cut may lose the last commits, never corrupt
                    // the database); FULL costs an fsync per uplink.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(options.busy_timeout);
                let memory = url.contains(":memory:") || url.contains("mode=memory");
                let pool = if memory {
                    // Each connection to `:memory:` is its own database, and
                    // a shared-cache one vanishes with its last connection:
                    // keep exactly one, forever.
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .min_connections(1)
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    SqlitePoolOptions::new().max_connections(options.max_connections.unwrap_or(4))
                };
                let pool = if options.sqlite_pragmas.is_empty() {
                    pool
                } else {
                    let pragmas: Arc<str> = options
                        .sqlite_pragmas
                        .iter()
                        .map(|p| format!("PRAGMA {p};"))
                        .collect::<String>()
                        .into();
                    // Once first on a connection of its own: the pool
                    // retries a failing connection until its acquire
                    // timeout and then reports only that.
                    let mut first = connect.connect().await.map_err(connect_error)?;
                    let tried = sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas.to_string()))
                        .execute(&mut first)
                        .await;
                    let _ = first.close().await;
                    tried.map_err(connect_error)?;
                    pool.after_connect(move |conn, _| {
                        let pragmas = Arc::clone(&pragmas);
                        Box::pin(async move {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas.to_string()))
                                .execute(conn)
                                .await
                                .map(|_| ())
                        })
                    })
                };
                // No ping before each use: an SQLite connection is a file
                // handle on this machine, it cannot have gone away, and the
                // ping cost a round trip to its worker thread per query.
                let pool = observed(pool.test_before_acquire(false), options.observer.as_ref())
                    .connect_with(connect.clone())
                    .await
                    .map_err(connect_error)?;
                SQLITE_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(StorageError::Migrate)?;
                if !memory {
                    let checkpointer =
                        checkpoint::Checkpointer::start(connect, checkpoint::Policy::default())
                            .map_err(|e| connect_error(sqlx::Error::Io(e)))?;
                    checkpointer_of_pool = Some(Arc::new(checkpointer));
                }
                Pool::Sqlite(pool)
            }
            "postgres" | "postgresql" => {
                let connect = PgConnectOptions::from_str(url).map_err(connect_error)?;
                let pool =
                    PgPoolOptions::new().max_connections(options.max_connections.unwrap_or(10));
                let pool = observed(pool, options.observer.as_ref())
                    .connect_with(connect)
                    .await
                    .map_err(connect_error)?;
                POSTGRES_MIGRATIONS
                    .run(&pool)
                    .await
                    .map_err(StorageError::Migrate)?;
                Pool::Postgres(pool)
            }
            _ => {
                return Err(StorageError::UnsupportedUrl {
                    scheme: scheme.to_owned(),
                });
            }
        };
        Ok(Self {
            pool,
            checkpointer: checkpointer_of_pool,
        })
    }

    /// The pool's connections: open, and idle.
    pub fn connections(&self) -> Connections {
        match &self.pool {
            Pool::Sqlite(pool) => Connections {
                open: pool.size(),
                idle: pool.num_idle(),
            },
            Pool::Postgres(pool) => Connections {
                open: pool.size(),
                idle: pool.num_idle(),
            },
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes every connection; operations started afterwards fail.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await);
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.stop().await;
        }
    }

    /// The SQL text for this backend, where the dialects differ.
    fn dialect(&self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => sqlite,
            Pool::Postgres(_) => postgres,
        }
    }

    /// The `i`-th parameter (from 1) of a statement whose parameters
    /// appear in its text in the order they are bound: `$i` on PostgreSQL,
    /// an anonymous `?` on SQLite. SQLite finds the name of a numbered
    /// parameter by a linear scan, so binding n of them costs O(n²): with
    /// the uplink path's batched statements (hundreds of parameters) that
    /// was 4.7 % of the server's CPU at 6 000 uplinks/s.
    fn param(&self, i: usize) -> String {
        match self.pool {
            Pool::Sqlite(_) => "?".to_owned(),
            Pool::Postgres(_) => format!("${i}"),
        }
    }

    /// The parameters 1 to `n` of an `IN (…)` list (see [`Self::param`]).
    fn placeholders(&self, n: usize) -> String {
        (1..=n)
            .map(|i| self.param(i))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The limit and offset of a list, as bound parameters.
fn page(limit: u32, offset: u32) -> (i64, i64) {
    (i64::from(limit), i64::from(offset))
}
