//! Exit codes: the contract scripts and CI jobs rely on.

use std::process::ExitCode;

/// Printed at the end of `--help`; `docs/weftctl.md` and
/// `docs/weftctl-online.md` say the same.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success; for `plan`, the fabric is proven isolated
  1  invalid input: a file that cannot be read, parsed or validated (all
     diagnostics are printed), or a failed operation
  2  usage error: unknown command or option, missing argument
  3  `plan` only: isolation violation (counterexamples are printed)
Online commands (talking to weftd) add, see `weftctl status --help`:
  4  not found   5  permission denied   6  conflict   7  quota exhausted
  8  controller unavailable, or timed out waiting for the switches";

/// Printed at the end of the online commands' `--help`.
pub const ONLINE_EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success (and, unless --no-wait, programmed on every switch)
  1  invalid input: the controller answered INVALID_ARGUMENT (field
     violations are printed), or a malformed name or value
  2  usage, file or configuration error: unknown option, unreadable
     certificate, no endpoint configured, bad context file
  3  isolation violation: the change was refused because it would break
     isolation (findings are printed), or `status` finds the fabric not isolated
  4  not found
  5  permission denied or unauthenticated (check the context's certificate)
  6  conflict: already exists, stale etag, or another failed precondition
  7  quota or pool exhausted
  8  controller unavailable or failing, or timed out waiting for the switches
     to program a change (the change itself is stored)";

/// How a command ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Invalid,
    /// Usage, file or configuration errors found by the online commands
    /// (clap reports its own usage errors with the same code).
    Usage,
    Violation,
    NotFound,
    Denied,
    Conflict,
    Exhausted,
    Unavailable,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Invalid => 1,
            Outcome::Usage => 2,
            Outcome::Violation => 3,
            Outcome::NotFound => 4,
            Outcome::Denied => 5,
            Outcome::Conflict => 6,
            Outcome::Exhausted => 7,
            Outcome::Unavailable => 8,
        }
    }

    /// The worse of two outcomes (a violation outranks invalid input, which
    /// outranks success), for the offline commands over several files.
    #[must_use]
    pub fn max(self, other: Outcome) -> Outcome {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o.code())
    }
}

/// Operational failures (an unwritable output file) that are not the
/// input's fault still exit 1: scripts only need to tell success, bad
/// input and isolation violations apart.
pub const FAILURE: u8 = 1;
