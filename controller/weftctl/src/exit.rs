//! Exit codes: the contract scripts and CI jobs rely on.

use std::process::ExitCode;

/// Printed at the end of `--help`; `docs/weftctl.md` says the same.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success; for `plan`, the fabric is proven isolated
  1  invalid input: a file that cannot be read, parsed or validated (all
     diagnostics are printed), or a failed operation
  2  usage error: unknown command or option, missing argument
  3  `plan` only: isolation violation (counterexamples are printed)";

/// How a command ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Invalid,
    Violation,
}

impl Outcome {
    pub fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Invalid => 1,
            Outcome::Violation => 3,
        }
    }

    /// The worse of two outcomes (a violation outranks invalid input, which
    /// outranks success), for commands over several files.
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
