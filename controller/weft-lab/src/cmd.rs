//! Running the system's network tools (`ip`, `ovs-vsctl`, …) with their
//! output captured and their failures turned into typed errors.
//!
//! The lab drives iproute2 and Open vSwitch through their command-line
//! tools on purpose: they are what an engineer would type to build the same
//! lab by hand, every step shows up in `--verbose` output as a command that
//! can be copied, and the agents (not the lab) are where Weft talks netlink
//! and OpenFlow itself.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// A lab step failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("{0}")]
    Setup(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl LabError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        LabError::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;

/// Renders a command line for messages.
pub(crate) fn render(program: &str, args: &[&OsStr]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn check(command: String, out: Output) -> Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Runs `program args…`, returning its standard output.
pub fn run<S: AsRef<OsStr>>(program: &str, args: &[S]) -> Result<String> {
    run_env(program, args, &[])
}

/// Like [`run`], with extra environment variables.
pub fn run_env<S: AsRef<OsStr>>(
    program: &str,
    args: &[S],
    env: &[(&str, &OsStr)],
) -> Result<String> {
    let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    let command = render(program, &args);
    tracing::debug!(%command, "lab");
    let mut cmd = Command::new(program);
    cmd.args(&args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|source| LabError::Spawn {
        command: command.clone(),
        source,
    })?;
    check(command, out)
}

/// True when the process runs as root (the lab needs it).
pub fn is_root() -> bool {
    run("id", &["-u"]).map(|s| s.trim() == "0").unwrap_or(false)
}

/// True when `program` can be found on `PATH`.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// For tests that need the machine (root, Open vSwitch, the kernel's
/// namespaces): `true` when the test must skip because of `why` (printed).
/// With `WEFT_REQUIRE_LAB` set (the README's test command sets it as root)
/// it panics instead: there, a test that cannot run is a failure.
// Standard output on purpose: the test harness captures it per test.
#[allow(clippy::print_stdout)]
pub fn skip_for(why: Option<&str>) -> bool {
    let Some(why) = why else { return false };
    assert!(
        std::env::var_os("WEFT_REQUIRE_LAB").is_none(),
        "WEFT_REQUIRE_LAB is set but this test cannot run: {why}"
    );
    println!("skipped: {why}");
    true
}

/// Why a private Open vSwitch cannot run here (not root, not installed),
/// or `None` when it can.
pub fn ovs_unavailable() -> Option<&'static str> {
    if !is_root() {
        return Some("needs root");
    }
    if !have("ovs-vswitchd") {
        return Some("needs Open vSwitch (openvswitch-switch)");
    }
    None
}
