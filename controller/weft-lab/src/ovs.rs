//! A private Open vSwitch: its own `ovsdb-server` and `ovs-vswitchd`, its
//! own database and run directory, optionally inside a network namespace.
//!
//! Other Open vSwitch instances may run on the same machine, so nothing
//! here touches the system's default sockets or stops processes by name:
//! every command names this instance's database socket, management socket
//! or control socket, and the daemons are stopped by the pids they wrote.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cmd::{LabError, Result, run, run_env};

/// Which datapath the instance's bridges use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datapath {
    /// The userspace datapath: real frames between real interfaces
    /// (veths), VXLAN in userspace.
    Netdev,
    /// The dummy datapath (`--enable-dummy=override`): no real interfaces;
    /// frames are injected with `netdev-dummy/receive` and traced with
    /// `ofproto/trace`. Fast to start, for tests of flow tables alone.
    Dummy,
}

/// A running private Open vSwitch. Stopped when dropped unless kept.
#[derive(Debug)]
pub struct OvsInstance {
    dir: PathBuf,
    netns: Option<String>,
    datapath: Datapath,
    keep: bool,
}

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

impl OvsInstance {
    /// Starts `ovsdb-server` and `ovs-vswitchd` with every file under
    /// `dir` (created if missing; keep the path short: unix socket paths
    /// are limited to 107 bytes). `ovs-vswitchd` runs inside `netns` when
    /// given, so its bridges see that namespace's interfaces.
    pub fn start(dir: &Path, netns: Option<&str>, datapath: Datapath) -> Result<OvsInstance> {
        if !crate::cmd::have("ovs-vswitchd") || !crate::cmd::have("ovsdb-server") {
            return Err(LabError::Setup(
                "Open vSwitch is not installed (Debian package openvswitch-switch)".into(),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| LabError::io(format!("cannot create {}", dir.display()), e))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| LabError::io(format!("cannot resolve {}", dir.display()), e))?;
        if dir.join("db.sock").as_os_str().len() > 100 {
            return Err(LabError::Setup(format!(
                "{} is too long for the instance's unix sockets",
                dir.display()
            )));
        }
        let ovs = OvsInstance {
            dir,
            netns: netns.map(str::to_string),
            datapath,
            keep: false,
        };
        // From here on, Drop stops whatever started.
        ovs.start_daemons()?;
        Ok(ovs)
    }

    /// A handle on an instance started earlier in `dir`, to run commands
    /// against it; dropping it leaves the daemons running.
    pub fn attach(dir: &Path, netns: Option<&str>) -> OvsInstance {
        OvsInstance {
            dir: dir.to_path_buf(),
            netns: netns.map(str::to_string),
            datapath: Datapath::Netdev,
            keep: true,
        }
    }

    /// Takes charge of an instance started earlier in `dir` (to stop it).
    pub fn adopt(dir: &Path) -> OvsInstance {
        OvsInstance {
            dir: dir.to_path_buf(),
            netns: None,
            datapath: Datapath::Netdev,
            keep: false,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn env(&self) -> Vec<(&'static str, &OsStr)> {
        let d = self.dir.as_os_str();
        vec![
            ("OVS_RUNDIR", d),
            ("OVS_LOGDIR", d),
            ("OVS_DBDIR", d),
            ("OVS_SYSCONFDIR", d),
        ]
    }

    fn start_daemons(&self) -> Result<()> {
        let db = self.path("conf.db");
        if !db.exists() {
            run(
                "ovsdb-tool",
                &[OsStr::new("create"), db.as_os_str(), OsStr::new(SCHEMA)],
            )?;
        }
        let s = |p: PathBuf| p.to_string_lossy().into_owned();
        run_env(
            "ovsdb-server",
            &[
                s(db),
                format!("--remote=punix:{}", s(self.path("db.sock"))),
                format!("--pidfile={}", s(self.path("ovsdb-server.pid"))),
                format!("--unixctl={}", s(self.path("ovsdb-server.ctl"))),
                format!("--log-file={}", s(self.path("ovsdb-server.log"))),
                "--detach".into(),
                "--no-chdir".into(),
            ],
            &self.env(),
        )?;
        // Weft's lowering assumes Open vSwitch's default of parsing one
        // VLAN tag (a second tag is then the EtherType, which the inner-tag
        // guard matches; see docs/pipeline.md). Pinned here so a changed
        // default cannot silently change what the tables mean.
        self.vsctl(&[
            "--no-wait",
            "init",
            "--",
            "set",
            "Open_vSwitch",
            ".",
            "other_config:vlan-limit=1",
        ])?;
        let mut argv: Vec<String> = Vec::new();
        if let Some(ns) = &self.netns {
            argv.extend([
                "netns".into(),
                "exec".into(),
                ns.clone(),
                "ovs-vswitchd".into(),
            ]);
        }
        argv.extend([
            format!("unix:{}", s(self.path("db.sock"))),
            format!("--pidfile={}", s(self.path("ovs-vswitchd.pid"))),
            format!("--unixctl={}", s(self.path("ovs-vswitchd.ctl"))),
            format!("--log-file={}", s(self.path("ovs-vswitchd.log"))),
            "--detach".into(),
            "--no-chdir".into(),
        ]);
        if self.datapath == Datapath::Dummy {
            argv.extend(["--enable-dummy=override".into(), "--disable-system".into()]);
        }
        if self.netns.is_some() {
            run_env("ip", &argv, &self.env())?;
        } else {
            run_env("ovs-vswitchd", &argv, &self.env())?;
        }
        Ok(())
    }

    /// The instance's directory (database, sockets, logs, pid files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The namespace `ovs-vswitchd` runs in.
    pub fn netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// The OpenFlow management socket of a bridge (`unix:` target for
    /// `ovs-ofctl` and for Weft's agent).
    pub fn mgmt_socket(&self, bridge: &str) -> PathBuf {
        self.path(&format!("{bridge}.mgmt"))
    }

    /// `ovs-vsctl` against this instance's database.
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        let db = format!("--db=unix:{}", self.path("db.sock").display());
        let mut all = vec![db.as_str(), "--timeout=10"];
        all.extend_from_slice(args);
        run_env("ovs-vsctl", &all, &self.env())
    }

    /// `ovs-ofctl -O OpenFlow13 CMD BRIDGE-SOCKET ARGS…` for one bridge.
    pub fn ofctl(&self, cmd: &str, bridge: &str, args: &[&str]) -> Result<String> {
        let target = format!("unix:{}", self.mgmt_socket(bridge).display());
        let mut all = vec!["-O", "OpenFlow13", cmd, target.as_str()];
        all.extend_from_slice(args);
        run_env("ovs-ofctl", &all, &self.env())
    }

    /// `ovs-appctl` against this instance's `ovs-vswitchd`.
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        let target = self.path("ovs-vswitchd.ctl");
        let t = target.to_string_lossy();
        let mut all = vec!["-t", t.as_ref()];
        all.extend_from_slice(args);
        run_env("ovs-appctl", &all, &self.env())
    }

    /// Adds a bridge handed to Weft empty: `fail_mode=secure` (no
    /// standalone learning when no controller is set), OpenFlow 1.0, 1.3
    /// and 1.4 (1.0 for `ovs-ofctl` without `-O`), and no flows at all.
    pub fn add_bridge(&self, bridge: &str) -> Result<()> {
        let dp = match self.datapath {
            Datapath::Netdev => "datapath_type=netdev",
            Datapath::Dummy => "datapath_type=dummy",
        };
        self.vsctl(&[
            "add-br",
            bridge,
            "--",
            "set",
            "bridge",
            bridge,
            dp,
            "fail_mode=secure",
            "protocols=OpenFlow10,OpenFlow13,OpenFlow14",
        ])?;
        self.wait_for(&self.mgmt_socket(bridge))?;
        self.ofctl("del-flows", bridge, &[])?;
        Ok(())
    }

    /// Adds a port with a fixed OpenFlow number; `extra` are further
    /// `Interface` columns (`type=vxlan`, `options:remote_ip=flow`, …).
    pub fn add_port(&self, bridge: &str, port: &str, ofport: u32, extra: &[&str]) -> Result<()> {
        let req = format!("ofport_request={ofport}");
        let mut args = vec![
            "add-port",
            bridge,
            port,
            "--",
            "set",
            "interface",
            port,
            &req,
        ];
        args.extend_from_slice(extra);
        self.vsctl(&args)?;
        Ok(())
    }

    fn wait_for(&self, path: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() {
            if Instant::now() > deadline {
                return Err(LabError::Setup(format!(
                    "{} did not appear",
                    path.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The pids of the two daemons, from their pid files.
    pub fn pids(&self) -> Vec<u32> {
        ["ovs-vswitchd.pid", "ovsdb-server.pid"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.path(f)).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    }

    /// Leaves the daemons running when dropped.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.dir.clone()
    }

    /// Stops both daemons (by their pids) and waits for them to exit.
    pub fn stop(mut self) -> Result<()> {
        self.keep = true;
        stop_dir(&self.dir)
    }
}

/// Stops the daemons of the instance in `dir`, by the pids in its pid
/// files, waiting up to 5 s for each before killing it.
pub fn stop_dir(dir: &Path) -> Result<()> {
    for file in ["ovs-vswitchd.pid", "ovsdb-server.pid"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let Ok(pid) = text.trim().parse::<u32>() else {
            continue;
        };
        crate::process::terminate(pid, Duration::from_secs(5))?;
    }
    Ok(())
}

impl Drop for OvsInstance {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = stop_dir(&self.dir)
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot stop Open vSwitch");
        }
    }
}
