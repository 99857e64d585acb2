//! `weftd` as a child process: the real binary on a temporary data
//! directory, its log kept (and printed when a test fails), killed with
//! SIGKILL on request and when dropped.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The child process and its data directory; both go away on drop, also
/// when the test fails.
pub struct WeftdProcess {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    listen: String,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    dir: tempfile::TempDir,
}

impl WeftdProcess {
    /// A `weftd` on the two-racks topology and intent with `args` added
    /// (e.g. `--simulate`), on a fresh data directory.
    pub fn new(args: &[&str]) -> WeftdProcess {
        WeftdProcess {
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            envs: Vec::new(),
            listen: "127.0.0.1:0".to_owned(),
            child: None,
            log: Arc::default(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Starts `weftd` on the data directory; returns its gRPC address.
    pub fn start(&mut self) -> SocketAddr {
        assert!(self.child.is_none());
        let repo = super::repo();
        let mut child = Command::new(env!("CARGO_BIN_EXE_weftd"))
            .arg("--topology")
            .arg(repo.join("topologies/two-racks.yaml"))
            .arg("--intent")
            .arg(repo.join("topologies/two-racks.intent.yaml"))
            .arg("--data-dir")
            .arg(self.dir.path())
            .args(["--listen", &self.listen, "--metrics-listen", "127.0.0.1:0"])
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        let log = Arc::clone(&self.log);
        // Keeps draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains("weftd serving")
                    && let Some(addr) = serving_addr(&line)
                {
                    let _ = tx.send(addr);
                }
                log.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(e) => panic!(
                "weftd did not report serving ({e}); its log:\n{}",
                self.log.lock().unwrap().join("\n")
            ),
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Listens on a fixed address from now on (so a restart keeps the
    /// address agents reconnect to).
    /// Sets an environment variable for the next start.
    pub fn env(&mut self, key: &str, value: &str) {
        self.envs.push((key.to_owned(), value.to_owned()));
    }

    pub fn listen_on(&mut self, addr: SocketAddr) {
        self.listen = addr.to_string();
    }

    /// The running child's pid.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WeftdProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "weftd log:\n{}",
                self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
        }
    }
}

/// `addr=127.0.0.1:PORT` in a tracing line (escape codes stripped in case
/// colours are on).
fn serving_addr(line: &str) -> Option<SocketAddr> {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let rest = &plain[plain.find("addr=")? + "addr=".len()..];
    rest.split_whitespace().next()?.parse().ok()
}
