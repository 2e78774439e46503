//! A database of its own for each test, on SQLite (a temporary directory)
//! or PostgreSQL (a schema of its own in the `test` database), and
//! `on_both_backends!` to run a test on each.
#![allow(dead_code, unreachable_pub, unused_macros)]

use std::path::PathBuf;

use ns_core::storage::{Backend, Storage, StorageOptions};
use sqlx::Connection;
use uuid::Uuid;

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn postgres_url() -> String {
    std::env::var("NS_CORE_TEST_POSTGRES").unwrap_or_else(|_| POSTGRES_URL.into())
}

/// A database of its own for one test, removed when dropped.
pub struct TestDb {
    pub storage: Storage,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Schema(String),
    Done,
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("ns-core-storage-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/ns.sqlite?mode=rwc", dir.display());
        let storage = Storage::connect_with(&url, &options()).await.unwrap();
        assert_eq!(storage.backend(), Backend::Sqlite);
        Self {
            storage,
            url,
            cleanup: Cleanup::Dir(dir),
        }
    }

    pub async fn postgres() -> Self {
        let base = postgres_url();
        let schema = format!("ns_test_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let storage = Storage::connect_with(&url, &options()).await.unwrap();
        assert_eq!(storage.backend(), Backend::Postgres);
        Self {
            storage,
            url,
            cleanup: Cleanup::Schema(schema),
        }
    }

    /// Closes the pool, then removes the database.
    pub async fn finish(mut self) {
        self.storage.close().await;
        match std::mem::replace(&mut self.cleanup, Cleanup::Done) {
            Cleanup::Dir(dir) => std::fs::remove_dir_all(dir).unwrap(),
            Cleanup::Schema(schema) => drop_schema(&schema).await,
            Cleanup::Done => {}
        }
    }

    /// Runs raw SQL, the text chosen per backend.
    pub async fn exec(&self, sqlite: &str, postgres: &str) {
        match self.storage.backend() {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
            _ => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// A count from raw SQL valid on both backends.
    pub async fn count(&self, sql: &'static str) -> i64 {
        match self.storage.backend() {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
            _ => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }
}

async fn drop_schema(schema: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

impl Drop for TestDb {
    // Reached with something to clean only when a test panicked before
    // `finish`: clean up from a thread of its own, as this one's runtime
    // is unwinding.
    fn drop(&mut self) {
        match std::mem::replace(&mut self.cleanup, Cleanup::Done) {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema(schema) => {
                let _ = std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(drop_schema(&schema));
                })
                .join();
            }
            Cleanup::Done => {}
        }
    }
}

pub fn options() -> StorageOptions {
    StorageOptions::default().max_connections(8)
}

/// Runs each named `async fn(&TestDb)` once per backend, as
/// `sqlite::name` and `postgres::name`, on a two-thread runtime so that
/// the racing tests race.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::postgres().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}
