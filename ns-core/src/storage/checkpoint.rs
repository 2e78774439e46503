//! WAL checkpoints of an SQLite file database, mostly off the write path.
//!
//! SQLite checkpoints in the connection whose commit takes the write-ahead
//! log past 1 000 pages: that commit returns only once the log's pages are
//! copied back into the database file. On the uplink path the commit is a
//! batched session write, so at 10 000 uplinks a second one batch in
//! about thirty took 8–11 ms instead of 0.4 ms, every 110 ms, and the
//! uplinks waiting behind it came late (docs/benchmarks.md).
//!
//! A thread of its own ([`Checkpointer`]) therefore copies the log on a
//! connection of its own as it grows, with `PASSIVE` checkpoints, which
//! never block a writer nor a reader. What is left for the committing
//! connection's own checkpoint is the frames of the last few milliseconds.
//! That checkpoint stays: a log is restarted from its beginning only by a
//! writer that begins after a checkpoint copied it whole, which under
//! steady writes only the committing connection sees (a thread of its own
//! alone, tried first, let the log grow to its bound at 1 500 uplinks a
//! second). When the log grows past [`Policy::truncate_frames`] all the
//! same (a reader holding an old snapshot), a round ends with a `TRUNCATE`
//! checkpoint, which waits for the writers and readers (their busy
//! timeout) and empties the log file.

use std::sync::Mutex;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::oneshot;
use tracing::warn;

/// How often the [`Checkpointer`] works.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// The pause after a round that found the log changed.
    pub(super) busy_pause: Duration,
    /// The longest pause: while the log stays unchanged the pause doubles
    /// up to this.
    pub(super) idle_pause: Duration,
    /// `PASSIVE` checkpoints per round at most, while each leaves frames
    /// that writers added meanwhile (or a commit's checkpoint ran).
    pub(super) passes: u32,
    /// Frames in the log (since its last restart) from which a round ends
    /// with a `TRUNCATE` checkpoint.
    pub(super) truncate_frames: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            // About 200 frames at 10 000 session writes a second (two
            // frames each), SQLite's own threshold (1 000) every 50 ms:
            // a committing connection's checkpoint finds at most these
            // left to copy.
            busy_pause: Duration::from_millis(10),
            idle_pause: Duration::from_millis(250),
            passes: 8,
            // 64 MiB of 4 KiB pages.
            truncate_frames: 16_384,
        }
    }
}

/// The state of the write-ahead log after a checkpoint: `PRAGMA
/// wal_checkpoint`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Wal {
    /// Frames in the log since its last restart.
    pub(super) frames: i64,
    /// Of those, the frames copied into the database file.
    pub(super) checkpointed: i64,
}

impl Wal {
    /// Whether every frame is in the database file (or there is no log).
    fn copied(self) -> bool {
        self.checkpointed >= self.frames
    }
}

/// One round of checkpoints on `conn` (see the module documentation).
pub(super) async fn checkpoint(
    conn: &mut SqliteConnection,
    policy: &Policy,
) -> Result<Wal, sqlx::Error> {
    let mut wal = run(conn, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    for _ in 1..policy.passes {
        if wal.copied() {
            break;
        }
        wal = run(conn, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    }
    if wal.frames >= policy.truncate_frames {
        wal = run(conn, "PRAGMA wal_checkpoint(TRUNCATE)").await?;
    }
    Ok(wal)
}

async fn run(conn: &mut SqliteConnection, pragma: &'static str) -> Result<Wal, sqlx::Error> {
    // (busy, frames in the log, frames checkpointed); busy = 1 when
    // another checkpoint was running or a TRUNCATE could not wait out
    // the others: the next round tries again.
    let (_busy, frames, checkpointed): (i64, i64, i64) =
        sqlx::query_as(pragma).fetch_one(conn).await?;
    Ok(Wal {
        frames,
        checkpointed,
    })
}

/// The thread checkpointing one database, until [`Checkpointer::stop`] or
/// the drop.
#[derive(Debug)]
pub(super) struct Checkpointer {
    stop: Mutex<Option<oneshot::Sender<()>>>,
    stopped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl Checkpointer {
    /// Starts the thread, which connects with `options`.
    pub(super) fn start(options: SqliteConnectOptions, policy: Policy) -> std::io::Result<Self> {
        // A runtime of its own: its timer neither wakes nor waits for the
        // caller's (a test's paused clock), and a checkpoint in progress
        // occupies no task there.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()?;
        let (stop, stop_rx) = oneshot::channel();
        let (stopped_tx, stopped) = oneshot::channel();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                runtime.block_on(rounds(options, policy, stop_rx));
                let _ = stopped_tx.send(());
            })?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            stopped: Mutex::new(Some(stopped)),
        })
    }

    /// Ends the thread (its connection closed) and waits until it has.
    pub(super) async fn stop(&self) {
        drop(lock(&self.stop).take());
        let stopped = lock(&self.stopped).take();
        if let Some(stopped) = stopped {
            let _ = stopped.await;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn rounds(options: SqliteConnectOptions, policy: Policy, mut stop: oneshot::Receiver<()>) {
    let mut conn: Option<SqliteConnection> = None;
    let mut pause = policy.busy_pause;
    let mut last = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = tokio::time::sleep(pause) => {}
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match options.connect().await {
                Ok(c) => conn.insert(c),
                Err(error) => {
                    warn!(%error, "the WAL checkpointer cannot connect; retrying");
                    pause = failed(pause, &policy);
                    continue;
                }
            },
        };
        match checkpoint(c, &policy).await {
            Ok(wal) => {
                pause = if last == Some(wal) {
                    (pause * 2).min(policy.idle_pause)
                } else {
                    policy.busy_pause
                };
                last = Some(wal);
            }
            Err(error) => {
                warn!(%error, "WAL checkpoint failed; reconnecting");
                conn = None;
                pause = failed(pause, &policy);
            }
        }
    }
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// The pause after a failed round: from [`Policy::idle_pause`], doubling
/// while the failures last, up to [`MAX_FAILED_PAUSE`], so that a database
/// that keeps failing (a full disk) is not retried and logged four times a
/// second.
fn failed(pause: Duration, policy: &Policy) -> Duration {
    (pause * 2).clamp(policy.idle_pause, MAX_FAILED_PAUSE)
}

/// The longest pause after failed rounds.
const MAX_FAILED_PAUSE: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::str::FromStr;

    use sqlx::sqlite::SqliteJournalMode;

    use super::*;
    use crate::model::Tenant;
    use crate::storage::{Storage, StorageOptions};

    /// A directory of its own, removed at the end.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("ns-core-wal-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn len(path: &Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    /// A writer and a checkpointing connection to a new WAL database whose
    /// commits do not checkpoint, with a table `t` of page-sized rows.
    async fn wal_db(dir: &TempDir) -> (SqliteConnection, SqliteConnection) {
        let options = SqliteConnectOptions::from_str(&format!(
            "sqlite://{}?mode=rwc",
            dir.file("t.sqlite").display()
        ))
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .pragma("wal_autocheckpoint", "0");
        let mut writer = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
            .execute(&mut writer)
            .await
            .unwrap();
        (writer, options.connect().await.unwrap())
    }

    async fn write(conn: &mut SqliteConnection, rows: u32) {
        for _ in 0..rows {
            sqlx::query("INSERT INTO t (body) VALUES (zeroblob(3000))")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_round_copies_the_whole_log_and_the_next_write_restarts_it() {
        let dir = TempDir::new();
        let (mut writer, mut checkpointer) = wal_db(&dir).await;
        write(&mut writer, 50).await;
        let policy = Policy::default();
        let wal = checkpoint(&mut checkpointer, &policy).await.unwrap();
        assert!(wal.frames >= 50, "{wal:?}");
        assert_eq!(wal.checkpointed, wal.frames);
        assert!(len(&dir.file("t.sqlite")) >= 50 * 3000);

        write(&mut writer, 1).await;
        let after = checkpoint(&mut checkpointer, &policy).await.unwrap();
        assert!(after.frames < 5, "the log restarted: {after:?}");
        assert_eq!(after.checkpointed, after.frames);
    }

    #[tokio::test]
    async fn a_log_past_the_bound_is_truncated() {
        let dir = TempDir::new();
        let (mut writer, mut checkpointer) = wal_db(&dir).await;
        write(&mut writer, 20).await;
        let wal_file = dir.file("t.sqlite-wal");
        assert!(len(&wal_file) >= 20 * 3000);

        let policy = Policy {
            truncate_frames: 20,
            ..Policy::default()
        };
        let wal = checkpoint(&mut checkpointer, &policy).await.unwrap();
        assert_eq!(
            wal,
            Wal {
                frames: 0,
                checkpointed: 0
            }
        );
        assert_eq!(len(&wal_file), 0);
        // Below the bound, a round leaves the file as it is.
        write(&mut writer, 5).await;
        let wal = checkpoint(&mut checkpointer, &policy).await.unwrap();
        assert!(wal.frames > 0 && wal.copied(), "{wal:?}");
        assert!(len(&wal_file) > 0);
    }

    #[tokio::test]
    async fn a_storage_on_a_file_checkpoints_on_its_own_thread() {
        let dir = TempDir::new();
        let url = format!("sqlite://{}?mode=rwc", dir.file("ns.sqlite").display());
        // With the commits' own checkpoints off, new pages reach the
        // database file only through the thread.
        let options =
            StorageOptions::default().sqlite_pragmas(vec!["wal_autocheckpoint = 0".into()]);
        let storage = Storage::connect_with(&url, &options).await.unwrap();
        assert!(storage.checkpointer.is_some());
        let db = dir.file("ns.sqlite");
        let before = len(&db);
        for i in 0..100 {
            let tenant = Tenant::new(format!("tenant {i} {}", "x".repeat(200)));
            storage.create_tenant(&tenant).await.unwrap();
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while len(&db) <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the database file stayed at {before} bytes"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // `close` returns once the thread has ended.
        storage.close().await;
    }

    #[test]
    fn failures_back_off_to_thirty_seconds() {
        let policy = Policy::default();
        let mut pause = policy.busy_pause;
        let mut pauses = Vec::new();
        for _ in 0..10 {
            pause = failed(pause, &policy);
            pauses.push(pause.as_millis());
        }
        assert_eq!(
            pauses,
            [
                250, 500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[tokio::test]
    async fn a_storage_in_memory_has_no_checkpointer() {
        let storage = Storage::connect("sqlite::memory:").await.unwrap();
        assert!(storage.checkpointer.is_none());
    }
}
