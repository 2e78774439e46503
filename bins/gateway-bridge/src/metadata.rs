//! `[meta_data]`: key/value pairs the bridge adds to every gateway's
//! `event/stats`, fixed (`[meta_data.static]`) or read from the output of
//! commands run periodically (`[meta_data.dynamic]`).
//!
//! The rules follow ChirpStack Gateway Bridge:
//! - every command runs at start and then `execution_interval` after the
//!   previous round finished; the commands of a round run concurrently, each
//!   killed after `max_execution_duration`;
//! - the command line is split into words like a `[commands]` one
//!   ([`crate::exec::split_command_line`]) and started without a shell,
//!   with no standard input;
//! - the output, trailing line breaks removed, is the value of the command's
//!   name when it is one line (a delimiter in it is kept: `name = "a=b"`);
//!   when it has several lines, each `key<split_delimiter>value` line gives
//!   `name_key = value`, split at the first delimiter, and lines without one
//!   are skipped with a warning;
//! - a command that fails (cannot start, non-zero exit, killed, output not
//!   UTF-8) is logged and contributes nothing to that round: its previous
//!   value is dropped rather than reported as if it were current, and a
//!   static pair of the same name shows again;
//! - dynamic pairs win over static ones of the same name, and the merged
//!   map wins over the gateway's own metadata ([`MetadataHandle::apply_to`]).
//!
//! Unlike ChirpStack, the static pairs are there from the start, before the
//! first round has finished. An `execution_interval` of zero runs the
//! commands once.
//!
//! ```
//! use gateway_bridge::{config, metadata};
//!
//! let mut config = config::MetaData::default();
//! config.fixed.insert("serial".into(), "A1".into());
//! // Without dynamic commands no task is started (and no runtime needed).
//! let handle = metadata::spawn(&config);
//! assert_eq!(handle.snapshot()["serial"], "A1");
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config;
use crate::exec;

/// The delimiter used when `split_delimiter` is empty.
const DEFAULT_DELIMITER: &str = "=";

/// The current metadata: cheap to clone, shared by every task that
/// publishes stats. The refresh task stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct MetadataHandle {
    current: watch::Receiver<Arc<BTreeMap<String, String>>>,
    _refresh: Option<Arc<AbortOnDrop>>,
}

impl MetadataHandle {
    /// The pairs as they are now: the static ones overlaid with the latest
    /// dynamic results.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        self.current.borrow().as_ref().clone()
    }

    /// Adds the pairs to a `gw::GatewayStats.metadata` map, replacing keys
    /// the gateway sent itself (as ChirpStack Gateway Bridge does).
    pub fn apply_to(&self, metadata: &mut HashMap<String, String>) {
        let current = self.current.borrow();
        metadata.extend(current.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// Waits until the dynamic results are next replaced. Returns `false`
    /// when they never will be again (no dynamic commands, or an
    /// `execution_interval` of zero after its single round).
    pub async fn changed(&mut self) -> bool {
        self.current.changed().await.is_ok()
    }
}

/// Aborts the refresh task when the last handle goes.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts refreshing the dynamic metadata of `config` and returns the
/// handle to read it.
///
/// Without dynamic commands nothing is started. Outside a tokio runtime the
/// dynamic commands cannot run: an error is logged and only the static
/// pairs are served. A command line that cannot be split is logged once and
/// never run.
pub fn spawn(config: &config::MetaData) -> MetadataHandle {
    let fixed = config.fixed.clone();
    let dynamic = &config.dynamic;
    let commands: Vec<(String, Vec<String>)> = dynamic
        .commands
        .iter()
        .filter_map(|(name, line)| match exec::split_command_line(line) {
            Ok(argv) => Some((name.clone(), argv)),
            Err(e) => {
                tracing::warn!(
                    name = %name,
                    command = %line,
                    error = %e,
                    "meta_data: dynamic command not usable, skipped"
                );
                None
            }
        })
        .collect();
    let (tx, rx) = watch::channel(Arc::new(fixed.clone()));
    if commands.is_empty() {
        return MetadataHandle {
            current: rx,
            _refresh: None,
        };
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("meta_data: no tokio runtime, dynamic commands will not run");
        return MetadataHandle {
            current: rx,
            _refresh: None,
        };
    };
    let delimiter = if dynamic.split_delimiter.is_empty() {
        tracing::warn!("meta_data.dynamic.split_delimiter is empty, using \"=\"");
        DEFAULT_DELIMITER.to_owned()
    } else {
        dynamic.split_delimiter.clone()
    };
    let refresh = Refresh {
        fixed,
        commands,
        interval: dynamic.execution_interval,
        limit: dynamic.max_execution_duration,
        delimiter,
    };
    let task = runtime.spawn(refresh.run(tx));
    MetadataHandle {
        current: rx,
        _refresh: Some(Arc::new(AbortOnDrop(task))),
    }
}

/// The refresh task's settings.
struct Refresh {
    fixed: BTreeMap<String, String>,
    commands: Vec<(String, Vec<String>)>,
    interval: Duration,
    limit: Duration,
    delimiter: String,
}

impl Refresh {
    async fn run(self, tx: watch::Sender<Arc<BTreeMap<String, String>>>) {
        loop {
            let rounds = self
                .commands
                .iter()
                .map(|(name, argv)| self.run_one(name, argv));
            let results = futures_util::future::join_all(rounds).await;
            let mut merged = self.fixed.clone();
            // In the commands' name order, so that a clash between two
            // commands' keys always resolves the same way.
            merged.extend(results.into_iter().flatten());
            if tx.send(Arc::new(merged)).is_err() || self.interval.is_zero() {
                return;
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Runs one command; its pairs, or none when it failed.
    async fn run_one(&self, name: &str, argv: &[String]) -> Vec<(String, String)> {
        let no_env: [(&String, &String); 0] = [];
        let outcome = exec::run(argv, b"", no_env, self.limit).await;
        if let Some(error) = outcome.error {
            let stderr = String::from_utf8_lossy(&outcome.stderr);
            tracing::warn!(
                name,
                error = %error,
                stderr = %stderr.trim_end(),
                "meta_data: dynamic command failed"
            );
            return Vec::new();
        }
        match String::from_utf8(outcome.stdout) {
            Ok(output) => parse_output(name, &output, &self.delimiter),
            Err(_) => {
                tracing::warn!(name, "meta_data: dynamic command output is not UTF-8");
                Vec::new()
            }
        }
    }
}

/// The pairs one command's output gives (see the module documentation).
fn parse_output(name: &str, output: &str, delimiter: &str) -> Vec<(String, String)> {
    let output = output.trim_end_matches(['\n', '\r']);
    if !output.contains('\n') {
        return vec![(name.to_owned(), output.to_owned())];
    }
    output
        .split('\n')
        .filter_map(|row| {
            let row = row.strip_suffix('\r').unwrap_or(row);
            match row.split_once(delimiter) {
                Some((key, value)) => Some((format!("{name}_{key}"), value.to_owned())),
                None => {
                    tracing::warn!(
                        name,
                        row,
                        delimiter,
                        "meta_data: output line is not key{{delimiter}}value, skipped"
                    );
                    None
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn map(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs(list).into_iter().collect()
    }

    fn config(
        fixed: &[(&str, &str)],
        commands: &[(&str, &str)],
        interval: Duration,
        limit: Duration,
    ) -> config::MetaData {
        config::MetaData {
            fixed: map(fixed),
            dynamic: config::DynamicMetaData {
                execution_interval: interval,
                max_execution_duration: limit,
                commands: map(commands),
                ..Default::default()
            },
        }
    }

    /// Waits for the next refresh, failing the test after 5 s.
    async fn next(handle: &mut MetadataHandle) -> BTreeMap<String, String> {
        let changed = tokio::time::timeout(Duration::from_secs(5), handle.changed())
            .await
            .expect("no refresh within 5 s");
        assert!(changed, "refresh task stopped");
        handle.snapshot()
    }

    #[test]
    fn one_line_is_the_value_of_the_command_name() {
        assert_eq!(
            parse_output("up", "12345\n", "="),
            pairs(&[("up", "12345")])
        );
        assert_eq!(
            parse_output("up", "a=b\r\n\n", "="),
            pairs(&[("up", "a=b")])
        );
        assert_eq!(parse_output("up", "", "="), pairs(&[("up", "")]));
        // Only trailing line breaks go; other whitespace is the command's.
        assert_eq!(parse_output("up", " 1 \n", "="), pairs(&[("up", " 1 ")]));
    }

    #[test]
    fn several_lines_give_prefixed_keys_split_at_the_first_delimiter() {
        assert_eq!(
            parse_output("bar", "foo=bar\nalice=bob\nsum=1+2=3\n", "="),
            pairs(&[
                ("bar_foo", "bar"),
                ("bar_alice", "bob"),
                ("bar_sum", "1+2=3")
            ])
        );
        assert_eq!(
            parse_output("sys", "cpu: 3\r\nmem: 7\r\n", ": "),
            pairs(&[("sys_cpu", "3"), ("sys_mem", "7")])
        );
    }

    #[test]
    fn lines_without_the_delimiter_are_skipped() {
        assert_eq!(
            parse_output("x", "a=1\nnot a pair\n\nb=2", "="),
            pairs(&[("x_a", "1"), ("x_b", "2")])
        );
    }

    #[test]
    fn static_pairs_need_no_runtime_and_no_task() {
        let mut handle = spawn(&config(
            &[("serial", "A1"), ("site", "roof")],
            &[],
            Duration::from_secs(60),
            Duration::from_secs(1),
        ));
        assert_eq!(
            handle.snapshot(),
            map(&[("serial", "A1"), ("site", "roof")])
        );
        let mut stats = HashMap::from([
            ("serial".to_owned(), "gateway's".to_owned()),
            ("temp".to_owned(), "21".to_owned()),
        ]);
        handle.apply_to(&mut stats);
        assert_eq!(stats["serial"], "A1");
        assert_eq!(stats["temp"], "21");
        assert_eq!(stats.len(), 3);
        // Nothing will ever change.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        assert!(!runtime.block_on(handle.changed()));
    }

    #[test]
    fn dynamic_commands_outside_a_runtime_leave_the_static_pairs() {
        let handle = spawn(&config(
            &[("serial", "A1")],
            &[("up", "echo 1")],
            Duration::from_secs(60),
            Duration::from_secs(1),
        ));
        assert_eq!(handle.snapshot(), map(&[("serial", "A1")]));
    }

    #[tokio::test]
    async fn dynamic_results_are_merged_over_static_pairs() {
        let mut handle = spawn(&config(
            &[("serial", "A1"), ("version", "static")],
            &[
                ("version", "echo 4.1.1"),
                ("sys", r"printf 'cpu=3\nmem=7\nsum=1+2=3\n'"),
                ("bad line", "sh -c 'echo"),
            ],
            Duration::from_secs(60),
            Duration::from_secs(2),
        ));
        // Static pairs are there before the first round finishes.
        assert_eq!(handle.snapshot()["serial"], "A1");
        let first = next(&mut handle).await;
        assert_eq!(
            first,
            map(&[
                ("serial", "A1"),
                ("sys_cpu", "3"),
                ("sys_mem", "7"),
                ("sys_sum", "1+2=3"),
                ("version", "4.1.1"),
            ])
        );
    }

    #[tokio::test]
    async fn a_command_over_its_time_limit_is_killed_and_contributes_nothing() {
        let started = std::time::Instant::now();
        let mut handle = spawn(&config(
            &[("slow", "static value")],
            &[("slow", "sleep 5"), ("fast", "echo ok"), ("fails", "false")],
            Duration::from_secs(60),
            Duration::from_millis(200),
        ));
        let first = next(&mut handle).await;
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(first, map(&[("fast", "ok"), ("slow", "static value")]));
    }

    #[tokio::test]
    async fn commands_rerun_every_interval_and_a_failure_drops_the_old_value() {
        let dir = std::env::temp_dir().join(format!(
            "gateway-bridge-metadata-test-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runs = dir.join("runs");
        let path = runs.display();
        // Prints the run number; fails on the third run.
        let script = format!(
            "sh -c 'echo x >> \"{path}\"; n=$(wc -l < \"{path}\"); \
             test $n -eq 3 && exit 1; echo $n'"
        );
        let mut handle = spawn(&config(
            &[],
            &[("run", &script)],
            // Long enough for each round to be seen before the next one.
            Duration::from_millis(250),
            Duration::from_secs(2),
        ));
        let mut watcher = handle.clone();
        assert_eq!(next(&mut handle).await, map(&[("run", "1")]));
        assert_eq!(next(&mut handle).await, map(&[("run", "2")]));
        assert_eq!(next(&mut handle).await, map(&[]));
        assert_eq!(next(&mut handle).await, map(&[("run", "4")]));
        // Every clone sees the refreshes.
        assert!(next(&mut watcher).await.contains_key("run"));
        drop((handle, watcher));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_zero_interval_runs_the_commands_once() {
        let mut handle = spawn(&config(
            &[],
            &[("once", "echo 1")],
            Duration::ZERO,
            Duration::from_secs(2),
        ));
        assert_eq!(next(&mut handle).await, map(&[("once", "1")]));
        let more = tokio::time::timeout(Duration::from_secs(5), handle.changed())
            .await
            .unwrap();
        assert!(!more);
        assert_eq!(handle.snapshot(), map(&[("once", "1")]));
    }

    #[tokio::test]
    async fn an_empty_split_delimiter_falls_back_to_equals() {
        let mut config = config(
            &[],
            &[("kv", r"printf 'a=1\nb=2'")],
            Duration::from_secs(60),
            Duration::from_secs(2),
        );
        config.dynamic.split_delimiter = String::new();
        let mut handle = spawn(&config);
        assert_eq!(
            next(&mut handle).await,
            map(&[("kv_a", "1"), ("kv_b", "2")])
        );
    }
}
