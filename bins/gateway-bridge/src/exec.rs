//! `command/exec`: run one of the `[commands.commands.NAME]` configured on
//! the bridge and report what it printed.
//!
//! Only configured commands run; the request names one and may add standard
//! input and environment variables, never a program or arguments. The
//! command line is split into words (see [`split_command_line`]) and
//! started without a shell, with the bridge's environment plus the request's
//! variables. A command still running after its `max_execution_duration` is
//! killed.
//!
//! As in ChirpStack Gateway Bridge, `error` is set when the command is not
//! configured, cannot start, exits with a non-zero status or is killed; this
//! bridge also keeps the stdout and stderr gathered until then (ChirpStack
//! drops them), since that is usually what explains the failure.
//!
//! ```
//! use gateway_bridge::{config, exec};
//! use packet_forwarder::gw;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = config::Config::from_toml_strs(&[r#"
//!     [commands.commands.words]
//!     command = "wc -w"
//!     max_execution_duration = "1s"
//! "#]).unwrap();
//! let request = gw::GatewayCommandExecRequest {
//!     gateway_id: "0102030405060708".into(),
//!     command: "words".into(),
//!     exec_id: 7,
//!     stdin: b"one two three".to_vec(),
//!     ..Default::default()
//! };
//! let response = exec::execute(&config.commands, &request).await;
//! assert_eq!((response.exec_id, response.error.as_str()), (7, ""));
//! assert_eq!(String::from_utf8_lossy(&response.stdout).trim(), "3");
//! # }
//! ```

use std::process::Stdio;
use std::time::Duration;

use packet_forwarder::gw;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::config;

/// How long a killed command is given to be reaped before the bridge stops
/// waiting for it (a SIGKILLed process exits at once; this only bounds a
/// pathological case).
const REAP_GRACE: Duration = Duration::from_millis(500);

/// Why a configured command line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandLineError {
    /// A `'` or `"` is never closed.
    #[error("unclosed {0} quote")]
    UnclosedQuote(char),
    /// The line ends with a `\` that escapes nothing.
    #[error("trailing backslash")]
    TrailingBackslash,
    /// The line holds no word at all.
    #[error("no command is given")]
    Empty,
}

/// Splits a configured command line into the program and its arguments, as
/// ChirpStack Gateway Bridge does: words are separated by spaces and tabs,
/// `'…'` and `"…"` keep their content (spaces included) as it is, and `\`
/// outside quotes takes the next character literally. Nothing else is
/// interpreted: no variables, globs, pipes or redirections.
///
/// ```
/// use gateway_bridge::exec::split_command_line;
/// assert_eq!(
///     split_command_line(r#"sh -c 'echo "$FOO"' a\ b"#).unwrap(),
///     ["sh", "-c", "echo \"$FOO\"", "a b"]
/// );
/// ```
///
/// # Errors
/// An unclosed quote, a trailing backslash, or no word at all.
pub fn split_command_line(line: &str) -> Result<Vec<String>, CommandLineError> {
    let mut words = Vec::new();
    // `None` between words; a word may be empty (`''`) yet present.
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\\' => {
                let escaped = chars.next().ok_or(CommandLineError::TrailingBackslash)?;
                word.get_or_insert_with(String::new).push(escaped);
            }
            '\'' | '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => current.push(other),
                        None => return Err(CommandLineError::UnclosedQuote(c)),
                    }
                }
            }
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    if words.is_empty() {
        return Err(CommandLineError::Empty);
    }
    Ok(words)
}

/// Runs the configured command `request.command` and returns the
/// `event/exec` answer: `gateway_id`, `gateway_id_legacy` and `exec_id`
/// copied from the request, the command's stdout and stderr, and `error`
/// when it did not complete successfully. Never panics; an unknown command
/// runs nothing.
pub async fn execute(
    commands: &config::Commands,
    request: &gw::GatewayCommandExecRequest,
) -> gw::GatewayCommandExecResponse {
    let mut response = gw::GatewayCommandExecResponse {
        gateway_id_legacy: request.gateway_id_legacy.clone(),
        gateway_id: request.gateway_id.clone(),
        exec_id: request.exec_id,
        ..Default::default()
    };
    let Some(def) = commands.commands.get(&request.command) else {
        tracing::warn!(
            gateway_id = %request.gateway_id,
            command = %request.command,
            "exec: command is not configured"
        );
        response.error = format!("command {:?} is not configured", request.command);
        return response;
    };
    let argv = match split_command_line(&def.command) {
        Ok(argv) => argv,
        Err(e) => {
            tracing::warn!(command = %request.command, error = %e, "exec: bad command line");
            response.error = format!("parse command error: {e}");
            return response;
        }
    };
    tracing::info!(
        gateway_id = %request.gateway_id,
        command = %request.command,
        program = %argv.first().map_or("", String::as_str),
        max_execution_duration = ?def.max_execution_duration,
        "exec: executing command"
    );
    let outcome = run(
        &argv,
        &request.stdin,
        &request.environment,
        def.max_execution_duration,
    )
    .await;
    response.stdout = outcome.stdout;
    response.stderr = outcome.stderr;
    if let Some(error) = outcome.error {
        tracing::warn!(command = %request.command, %error, "exec: command failed");
        response.error = error;
    }
    response
}

/// What a finished (or killed) process left behind.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
    /// Why the run did not succeed: not started, non-zero exit, killed.
    pub(crate) error: Option<String>,
}

/// Starts `argv` without a shell, writes `stdin` to it, collects stdout and
/// stderr, and kills it after `limit`. Shared with the dynamic metadata.
pub(crate) async fn run<'e>(
    argv: &[String],
    stdin: &[u8],
    environment: impl IntoIterator<Item = (&'e String, &'e String)>,
    limit: Duration,
) -> Outcome {
    let mut outcome = Outcome::default();
    let Some((program, args)) = argv.split_first() else {
        outcome.error = Some("no command is given".into());
        return outcome;
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(environment)
        .stdin(if stdin.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            outcome.error = Some(format!("starting command {program:?} error: {e}"));
            return outcome;
        }
    };
    let child_stdin = child.stdin.take();
    let child_stdout = child.stdout.take();
    let child_stderr = child.stderr.take();
    let (stdout, stderr) = (&mut outcome.stdout, &mut outcome.stderr);
    let finished = tokio::time::timeout(limit, async {
        let write_stdin = async {
            if let Some(mut pipe) = child_stdin {
                // A command that exits without reading its input closes the
                // pipe: not an error of the command.
                if let Err(e) = pipe.write_all(stdin).await {
                    tracing::debug!(error = %e, "exec: stdin not fully written");
                }
                // Dropping `pipe` closes it: the command sees end of input.
            }
        };
        let (status, (), (), ()) = tokio::join!(
            child.wait(),
            write_stdin,
            read_all(child_stdout, stdout),
            read_all(child_stderr, stderr),
        );
        status
    })
    .await;
    outcome.error = match finished {
        Ok(Ok(status)) if status.success() => None,
        Ok(Ok(status)) => Some(format!("command exited unsuccessfully: {status}")),
        Ok(Err(e)) => Some(format!("waiting for command error: {e}")),
        Err(_elapsed) => {
            if let Err(e) = child.start_kill() {
                tracing::debug!(error = %e, "exec: kill after timeout failed");
            }
            // Reap it so that no zombie is left; kill_on_drop covers the rest.
            let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
            Some(format!(
                "command killed: still running after max_execution_duration {limit:?}"
            ))
        }
    };
    outcome
}

/// Reads a pipe to its end into `buf`; what was read before an error or a
/// timeout stays in `buf`.
async fn read_all(pipe: Option<impl AsyncRead + Unpin>, buf: &mut Vec<u8>) {
    if let Some(mut pipe) = pipe
        && let Err(e) = pipe.read_to_end(buf).await
    {
        tracing::debug!(error = %e, "exec: output not fully read");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Instant;

    fn commands(list: &[(&str, &str, Duration)]) -> config::Commands {
        let mut commands = config::Commands::default();
        for &(name, command, max_execution_duration) in list {
            let def = config::CommandDef {
                command: command.into(),
                max_execution_duration,
            };
            commands.commands.insert(name.into(), def);
        }
        commands
    }

    fn request(command: &str) -> gw::GatewayCommandExecRequest {
        gw::GatewayCommandExecRequest {
            gateway_id: "0102030405060708".into(),
            gateway_id_legacy: vec![1, 2, 3, 4, 5, 6, 7, 8],
            command: command.into(),
            exec_id: 42,
            ..Default::default()
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn command_lines_split_like_chirpstack() {
        for (line, words) in [
            ("reboot", &["reboot"][..]),
            ("  /sbin/reboot\tnow  ", &["/sbin/reboot", "now"]),
            ("sh -c 'echo $FOO'", &["sh", "-c", "echo $FOO"]),
            (r#"printf "a b" ''"#, &["printf", "a b", ""]),
            (r"echo a\ b \'", &["echo", "a b", "'"]),
            (r#"echo pre"fix"post"#, &["echo", "prefixpost"]),
            (r#"echo "it's""#, &["echo", "it's"]),
            (
                r#"sh -c 'echo "$FOO"' a\ b"#,
                &["sh", "-c", "echo \"$FOO\"", "a b"],
            ),
        ] {
            assert_eq!(split_command_line(line).unwrap(), words, "{line:?}");
        }
        for (line, error) in [
            ("", CommandLineError::Empty),
            ("  \t ", CommandLineError::Empty),
            ("sh -c 'echo", CommandLineError::UnclosedQuote('\'')),
            ("echo \"a", CommandLineError::UnclosedQuote('"')),
            ("echo \\", CommandLineError::TrailingBackslash),
        ] {
            assert_eq!(split_command_line(line), Err(error), "{line:?}");
        }
    }

    #[tokio::test]
    async fn stdin_is_given_to_the_command_and_stdout_returned() {
        let commands = commands(&[("echo-stdin", "cat", SECOND)]);
        let mut req = request("echo-stdin");
        req.stdin = b"hello\nworld\n".to_vec();
        let resp = execute(&commands, &req).await;
        assert_eq!(resp.error, "");
        assert_eq!(resp.stdout, b"hello\nworld\n");
        assert_eq!(resp.stderr, b"");
        assert_eq!(resp.gateway_id, "0102030405060708");
        assert_eq!(resp.gateway_id_legacy, [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(resp.exec_id, 42);
    }

    #[tokio::test]
    async fn large_stdin_and_stdout_do_not_deadlock() {
        let commands = commands(&[("echo-stdin", "cat", Duration::from_secs(10))]);
        let mut req = request("echo-stdin");
        req.stdin = (0..1_000_000u32).map(|i| i as u8).collect();
        let resp = execute(&commands, &req).await;
        assert_eq!(resp.error, "");
        assert_eq!(resp.stdout, req.stdin);
    }

    #[tokio::test]
    async fn request_environment_is_added_to_the_bridge_environment() {
        let commands = commands(&[(
            "env",
            r#"sh -c 'echo "$FOO/$BAR"; test -n "$PATH" && echo path >&2'"#,
            SECOND,
        )]);
        let mut req = request("env");
        req.environment = [("FOO", "foo value"), ("BAR", "bar")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let resp = execute(&commands, &req).await;
        assert_eq!(resp.error, "");
        assert_eq!(resp.stdout, b"foo value/bar\n");
        // PATH is inherited: the request adds to the environment.
        assert_eq!(resp.stderr, b"path\n");
    }

    #[tokio::test]
    async fn a_command_over_its_time_limit_is_killed() {
        let commands = commands(&[(
            "slow",
            // The shell's `sleep` child keeps stdout open after the shell
            // is killed: the bridge must not wait for it.
            "sh -c 'echo started; sleep 5; echo never'",
            Duration::from_millis(200),
        )]);
        let started = Instant::now();
        let resp = execute(&commands, &request("slow")).await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert!(resp.error.contains("killed"), "{}", resp.error);
        assert!(resp.error.contains("200ms"), "{}", resp.error);
        // What it printed before it was killed is kept.
        assert_eq!(resp.stdout, b"started\n");
        assert_eq!(resp.exec_id, 42);
    }

    #[tokio::test]
    async fn sleep_is_killed_after_200_ms() {
        let commands = commands(&[("sleep", "sleep 5", Duration::from_millis(200))]);
        let started = Instant::now();
        let resp = execute(&commands, &request("sleep")).await;
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(resp.error.contains("killed"), "{}", resp.error);
    }

    #[tokio::test]
    async fn an_unknown_command_runs_nothing() {
        let commands = commands(&[("echo-stdin", "cat", SECOND)]);
        let resp = execute(&commands, &request("reboot")).await;
        assert_eq!(resp.error, "command \"reboot\" is not configured");
        assert_eq!((resp.stdout.len(), resp.stderr.len()), (0, 0));
        assert_eq!(resp.gateway_id, "0102030405060708");
        assert_eq!(resp.exec_id, 42);
        let none = execute(&config::Commands::default(), &request("")).await;
        assert!(none.error.contains("not configured"), "{}", none.error);
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_exit_status_and_output() {
        let commands = commands(&[("fail", "sh -c 'echo out; echo err >&2; exit 3'", SECOND)]);
        let resp = execute(&commands, &request("fail")).await;
        assert!(resp.error.contains("exit status: 3"), "{}", resp.error);
        assert_eq!(resp.stdout, b"out\n");
        assert_eq!(resp.stderr, b"err\n");
    }

    #[tokio::test]
    async fn a_missing_program_or_bad_command_line_is_an_error() {
        let commands = commands(&[
            ("missing", "/nonexistent/program --flag", SECOND),
            ("unclosed", "sh -c 'echo", SECOND),
            ("empty", "   ", SECOND),
        ]);
        let resp = execute(&commands, &request("missing")).await;
        assert!(
            resp.error.contains("/nonexistent/program"),
            "{}",
            resp.error
        );
        let resp = execute(&commands, &request("unclosed")).await;
        assert!(resp.error.contains("unclosed ' quote"), "{}", resp.error);
        let resp = execute(&commands, &request("empty")).await;
        assert!(resp.error.contains("no command"), "{}", resp.error);
    }

    #[tokio::test]
    async fn a_command_ignoring_its_stdin_still_succeeds() {
        let commands = commands(&[("echo", "echo done", SECOND)]);
        let mut req = request("echo");
        req.stdin = vec![b'x'; 1 << 20];
        let resp = execute(&commands, &req).await;
        assert_eq!(resp.error, "");
        assert_eq!(resp.stdout, b"done\n");
    }

    #[tokio::test]
    async fn run_with_no_argv_is_an_error() {
        let outcome = run(&[], b"", &BTreeMap::new(), SECOND).await;
        assert_eq!(outcome.error.as_deref(), Some("no command is given"));
    }
}
