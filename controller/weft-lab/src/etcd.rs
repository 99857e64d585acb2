//! A private etcd cluster on loopback, for the tests and benchmarks of
//! Weft's replicated store.
//!
//! Each member is a real `etcd` process (Debian `etcd-server`, 3.4) with
//! its own data directory and free loopback ports, so several clusters (and
//! a system etcd on the default ports) can run side by side. Members are
//! stopped, frozen and killed by the pids this harness started, never by
//! name; dropping the [`EtcdCluster`] kills every member and removes every
//! data directory, also when a test panics.
//!
//! The members run with short raft timers (50 ms heartbeat, 500 ms
//! election timeout) so failover tests take seconds, and with the
//! transaction limits Weft's store needs (see `docs/etcd.md`).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cmd::{LabError, Result, have, run};

/// The program the harness runs.
pub const ETCD: &str = "etcd";

/// Raft heartbeat of the test members, in milliseconds.
pub const HEARTBEAT_MS: u64 = 50;
/// Raft election timeout of the test members, in milliseconds.
pub const ELECTION_TIMEOUT_MS: u64 = 500;
/// Operations allowed in one etcd transaction. etcd's default (128) is
/// smaller than one Weft commit can be (seeding an intent puts every
/// record at once).
pub const MAX_TXN_OPS: u64 = 10_000;

/// Why a private etcd cannot run here, or `None` when it can.
pub fn etcd_unavailable() -> Option<&'static str> {
    if have(ETCD) {
        None
    } else {
        Some("needs etcd on PATH (Debian package etcd-server)")
    }
}

/// One member's fixed identity: what a restart reuses.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Set between [`EtcdCluster::sigstop`] and [`EtcdCluster::sigcont`].
    stopped: bool,
}

impl Member {
    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running etcd cluster of `members` processes on loopback.
#[derive(Debug)]
pub struct EtcdCluster {
    dir: PathBuf,
    token: String,
    members: Vec<Member>,
}

static NEXT_CLUSTER: AtomicU64 = AtomicU64::new(0);

impl EtcdCluster {
    /// Starts a cluster of `members` etcd processes with their data under a
    /// new, uniquely named directory inside `dir`, and waits until every
    /// member answers its health check.
    pub fn start(dir: &Path, members: usize) -> Result<EtcdCluster> {
        if let Some(why) = etcd_unavailable() {
            return Err(LabError::Setup(why.to_owned()));
        }
        if members == 0 {
            return Err(LabError::Setup("an etcd cluster needs a member".into()));
        }
        // Ports are picked free and then released before etcd binds them,
        // so another process may take one in between: retry with new ones.
        let mut last = None;
        for _ in 0..3 {
            match Self::try_start(dir, members) {
                Ok(cluster) => return Ok(cluster),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| LabError::Setup("etcd did not start".into())))
    }

    fn try_start(dir: &Path, members: usize) -> Result<EtcdCluster> {
        let serial = NEXT_CLUSTER.fetch_add(1, Ordering::Relaxed);
        let token = format!("weft-{}-{serial}", std::process::id());
        let root = dir.join(&token);
        std::fs::create_dir_all(&root)
            .map_err(|e| LabError::io(format!("cannot create {}", root.display()), e))?;
        let ports = free_ports(2 * members)?;
        let members = (0..members)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: ports[2 * i],
                peer_port: ports[2 * i + 1],
                data_dir: root.join(format!("m{i}")),
                log: root.join(format!("m{i}.log")),
                child: None,
                stopped: false,
            })
            .collect();
        // From here on, Drop kills whatever started and removes `root`.
        let mut cluster = EtcdCluster {
            dir: root,
            token,
            members,
        };
        for i in 0..cluster.members.len() {
            cluster.spawn(i)?;
        }
        cluster.wait_healthy(Duration::from_secs(30))?;
        Ok(cluster)
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, i: usize) -> Result<()> {
        let initial = self.initial_cluster();
        let m = &self.members[i];
        let log = File::create(&m.log)
            .map_err(|e| LabError::io(format!("cannot create {}", m.log.display()), e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| LabError::io("cannot duplicate the log file", e))?;
        let (heartbeat, election, ops) = (
            HEARTBEAT_MS.to_string(),
            ELECTION_TIMEOUT_MS.to_string(),
            MAX_TXN_OPS.to_string(),
        );
        // The initial-cluster flags only matter on the first start; a
        // restart finds the membership in its data directory.
        let args: Vec<String> = [
            "--name",
            &m.name,
            "--data-dir",
            &m.data_dir.display().to_string(),
            "--listen-client-urls",
            &m.client_url(),
            "--advertise-client-urls",
            &m.client_url(),
            "--listen-peer-urls",
            &m.peer_url(),
            "--initial-advertise-peer-urls",
            &m.peer_url(),
            "--initial-cluster",
            &initial,
            "--initial-cluster-state",
            "new",
            "--initial-cluster-token",
            &self.token,
            "--heartbeat-interval",
            &heartbeat,
            "--election-timeout",
            &election,
            "--max-txn-ops",
            &ops,
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
            "--log-level",
            "warn",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        tracing::debug!(member = %m.name, ?args, "starting etcd");
        let child = Command::new(ETCD)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|source| LabError::Spawn {
                command: format!("{ETCD} {}", args.join(" ")),
                source,
            })?;
        let m = &mut self.members[i];
        m.child = Some(child);
        m.stopped = false;
        Ok(())
    }

    /// Number of members (running or not).
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True for a cluster without members (never: [`EtcdCluster::start`]
    /// refuses it).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Every member's client URL (`http://127.0.0.1:PORT`), whether it
    /// runs or not: what a client is configured with.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// Member `i`'s client URL.
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url()
    }

    /// The directory holding every member's data and log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Member `i`'s pid while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].pid()
    }

    /// True while member `i`'s process exists (also when frozen).
    pub fn is_running(&mut self, i: usize) -> bool {
        let m = &mut self.members[i];
        match m.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => true,
            Some(_) => {
                m.child = None;
                false
            }
            None => false,
        }
    }

    /// Member `i`'s log so far (for failure messages).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    /// Stops member `i` with SIGTERM (SIGKILL after 5 s) and reaps it.
    pub fn stop(&mut self, i: usize) -> Result<()> {
        self.sigcont(i)?;
        if let Some(pid) = self.members[i].pid() {
            crate::process::terminate(pid, Duration::from_secs(5))?;
        }
        self.reap(i);
        Ok(())
    }

    /// Kills member `i` with SIGKILL and reaps it: a crash.
    pub fn kill9(&mut self, i: usize) -> Result<()> {
        if let Some(child) = self.members[i].child.as_mut() {
            // An already exited child makes kill fail; the reap below is
            // what matters.
            let _ = child.kill();
        }
        self.reap(i);
        Ok(())
    }

    /// Freezes member `i` with SIGSTOP: it holds its ports but answers
    /// nothing, like a hung machine.
    pub fn sigstop(&mut self, i: usize) -> Result<()> {
        let pid = self.running_pid(i)?;
        run("kill", &["-STOP", &pid.to_string()])?;
        self.members[i].stopped = true;
        Ok(())
    }

    /// Resumes member `i` after [`EtcdCluster::sigstop`].
    pub fn sigcont(&mut self, i: usize) -> Result<()> {
        if self.members[i].stopped {
            let pid = self.running_pid(i)?;
            run("kill", &["-CONT", &pid.to_string()])?;
            self.members[i].stopped = false;
        }
        Ok(())
    }

    /// Starts member `i` again on its data directory and ports (after
    /// [`EtcdCluster::stop`] or [`EtcdCluster::kill9`]); a running member
    /// is stopped first. Does not wait for it to rejoin: see
    /// [`EtcdCluster::wait_member_healthy`].
    pub fn restart(&mut self, i: usize) -> Result<()> {
        if self.is_running(i) {
            self.stop(i)?;
        }
        self.spawn(i)
    }

    fn running_pid(&mut self, i: usize) -> Result<u32> {
        if !self.is_running(i) {
            return Err(LabError::Setup(format!(
                "etcd member {} is not running",
                self.members[i].name
            )));
        }
        self.members[i]
            .pid()
            .ok_or_else(|| LabError::Setup("etcd member has no pid".into()))
    }

    fn reap(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.wait();
        }
        self.members[i].stopped = false;
    }

    /// Waits until member `i` reports itself healthy (it has a raft
    /// leader and serves a quorum read).
    pub fn wait_member_healthy(&mut self, i: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running(i) {
                return Err(LabError::Setup(format!(
                    "etcd member {} exited; its log:\n{}",
                    self.members[i].name,
                    self.log(i)
                )));
            }
            if healthy(self.members[i].client_port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LabError::Setup(format!(
                    "etcd member {} not healthy after {timeout:?}; its log:\n{}",
                    self.members[i].name,
                    self.log(i)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every member is healthy.
    pub fn wait_healthy(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for i in 0..self.members.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_member_healthy(i, left)?;
        }
        Ok(())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            // A frozen process ignores SIGTERM until resumed; SIGKILL does
            // not care, and nothing here needs a clean shutdown.
            self.members[i].stopped = false;
            let _ = self.kill9(i);
        }
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot remove the etcd cluster's directory");
        }
    }
}

/// `n` distinct free loopback ports. They are released before returning;
/// the caller binds them soon after.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| LabError::io("cannot find a free loopback port", e))?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| LabError::io("cannot read a bound port", e))
        })
        .collect()
}

/// etcd's `/health` endpoint over plain HTTP/1.0: `{"health":"true"}` once
/// the member has a leader and a quorum read succeeds.
fn healthy(port: u16) -> bool {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.contains("\"health\":\"true\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(6).unwrap();
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 6);
        assert!(ports.iter().all(|p| *p != 0));
    }

    #[test]
    fn nothing_listening_is_not_healthy() {
        let port = free_ports(1).unwrap()[0];
        assert!(!healthy(port));
    }
}
