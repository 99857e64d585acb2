//! The Linux backend: a leaf's pipeline entries as kernel bridges, VXLAN
//! devices and FDB entries over rtnetlink, with the drops in nftables.
//!
//! `docs/linux-lowering.md` is the design; in short, per network `V`:
//! bridge `weftb<V>`, VXLAN device `weftv<V>` (VNI `V`, the leaf's VTEP,
//! port 4789, no learning, no default remote) enslaved to it, one
//! all-zeros FDB entry per remote VTEP (head-end replication), and the
//! attached server ports enslaved. The drops of the OpenFlow pipeline
//! (unattached ports, tagged frames on access ports and inside tunnels,
//! tunnel packets from unknown VTEPs) are nftables rules ([`nft`]) since
//! this project's kernels have no tc classifiers.
//!
//! Layering: [`desired`] (entries → objects, refusals), [`plan`]
//! (objects × what the kernel holds → changes) and [`observe`] (kernel →
//! rules) are pure and unit-tested; [`netlink`] and [`nft`] do the I/O.
//! Reconciliation is mark and sweep: dump, plan, add in dependency order,
//! then remove stale *owned* state (see [`names`] for ownership). An
//! unchanged state plans, and therefore sends, nothing — cheap enough for
//! the session's periodic repair (two dumps and two `nft` listings).
//!
//! Not here: which entries to install (the controller decides) and the
//! OpenFlow lowering itself (`weft_pipeline::lower`, the reference this
//! backend's read-back is compared with).
//!
//! This kernel lacks 802.1Q: tagged attachments and trunks are refused
//! with that reason after a one-time probe (creating a VLAN link on a
//! throw-away bridge), without changing anything else.

pub mod desired;
pub mod kernel;
pub mod names;
pub mod netlink;
pub mod nft;
pub mod observe;
pub mod plan;

use std::collections::BTreeSet;
use std::path::PathBuf;

use futures_util::{StreamExt, stream};
use weft_pipeline::{PipelineEntry, SwitchDelta};

use self::desired::Desired;
use self::netlink::{EOPNOTSUPP, Netlink, NlError, Request};
use self::nft::{Installed, Nft, NftState};
use self::plan::Plan;
use crate::backend::{ApplyStats, Backend, BackendError, Observed, SwitchContext};

/// Netlink changes in flight at once within one phase: enough to pipeline,
/// few enough that the kernel's answers never overrun the socket buffer.
const IN_FLIGHT: usize = 64;

/// Names of the throw-away links of the 802.1Q probe.
const PROBE_BRIDGE: &str = "weftprobe";
const PROBE_VLAN: &str = "weftprobe.1";
/// Not an [`names::Alias`], so a probe bridge left by a crash is never
/// swept as network state; the next probe removes it.
const PROBE_ALIAS: &str = "weft:probe";

/// How to reach the leaf's kernel.
#[derive(Debug, Clone)]
pub struct LinuxConfig {
    /// Network namespace (a name under `/run/netns`) holding the leaf's
    /// interfaces; `None` for the agent's own namespace.
    pub netns: Option<String>,
    /// The `nft` binary.
    pub nft: PathBuf,
    /// The `ip` binary (runs `nft` inside `netns` with `ip netns exec`).
    pub ip: PathBuf,
}

impl Default for LinuxConfig {
    fn default() -> Self {
        LinuxConfig {
            netns: None,
            nft: PathBuf::from("nft"),
            ip: PathBuf::from("ip"),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct LinuxBackend {
    nl: Netlink,
    nft: Nft,
    generation: u64,
    installed: BTreeSet<PipelineEntry>,
    /// The probe's verdict: `Some(Some(reason))` when 802.1Q is missing.
    missing_8021q: Option<Option<String>>,
    operations: u64,
}

fn nl_error(e: NlError) -> BackendError {
    if e.errno == 0 {
        BackendError::Unavailable(e.to_string())
    } else {
        BackendError::Refused(e.to_string())
    }
}

impl LinuxBackend {
    /// Opens the netlink connection inside the leaf's namespace. Changes
    /// nothing.
    pub fn new(config: LinuxConfig) -> Result<LinuxBackend, BackendError> {
        let nl = Netlink::open(config.netns.as_deref())?;
        Ok(LinuxBackend {
            nl,
            nft: Nft {
                nft: config.nft,
                ip: config.ip,
                netns: config.netns,
            },
            generation: 0,
            installed: BTreeSet::new(),
            missing_8021q: None,
            operations: 0,
        })
    }

    /// The entries of the last successful reconcile or delta, sorted.
    pub fn installed(&self) -> Vec<PipelineEntry> {
        self.installed.iter().copied().collect()
    }

    /// Data-plane operations (netlink changes and nftables replacements)
    /// since creation.
    pub fn operations(&self) -> u64 {
        self.operations
    }

    /// Whether the kernel lacks 802.1Q, probed once by creating a VLAN link
    /// on a throw-away bridge: `Some(reason)` when it does.
    pub async fn missing_8021q(&mut self) -> Result<Option<String>, BackendError> {
        if let Some(v) = &self.missing_8021q {
            return Ok(v.clone());
        }
        let verdict = self.probe_8021q().await?;
        self.missing_8021q = Some(verdict.clone());
        Ok(verdict)
    }

    async fn probe_8021q(&self) -> Result<Option<String>, BackendError> {
        let unavailable = |e: NlError| BackendError::Unavailable(format!("802.1Q probe: {e}"));
        let kernel = self.nl.snapshot().await?;
        for name in [PROBE_VLAN, PROBE_BRIDGE] {
            if let Some(l) = kernel.by_name(name)
                && l.alias.as_deref() == Some(PROBE_ALIAS)
            {
                self.nl
                    .execute(netlink::del_link(l.index, name))
                    .await
                    .map_err(unavailable)?;
            }
        }
        self.nl
            .execute(netlink::new_bridge(PROBE_BRIDGE))
            .await
            .map_err(unavailable)?;
        let kernel = self.nl.snapshot().await?;
        let bridge = kernel
            .by_name(PROBE_BRIDGE)
            .map(|l| l.index)
            .ok_or_else(|| BackendError::Unavailable("802.1Q probe bridge vanished".into()))?;
        self.nl
            .execute(netlink::mark(bridge, PROBE_BRIDGE, PROBE_ALIAS))
            .await
            .map_err(unavailable)?;
        let vlan = netlink::new_subif(PROBE_VLAN, bridge, 1, 0);
        let verdict = match self.nl.execute(vlan).await {
            Ok(()) => None,
            Err(e) if e.errno == EOPNOTSUPP => Some(format!(
                "this kernel has no 802.1Q VLAN support (creating a vlan link failed: {}); \
                 tagged attachments and VLAN trunks cannot be installed on this Linux leaf",
                e.message
            )),
            Err(e) => {
                let _ = self
                    .nl
                    .execute(netlink::del_link(bridge, PROBE_BRIDGE))
                    .await;
                return Err(unavailable(e));
            }
        };
        // Deleting the bridge takes the VLAN link (its upper) with it.
        self.nl
            .execute(netlink::del_link(bridge, PROBE_BRIDGE))
            .await
            .map_err(unavailable)?;
        Ok(verdict)
    }

    async fn nft_read(&self) -> Result<Installed, BackendError> {
        let nft = self.nft.clone();
        tokio::task::spawn_blocking(move || nft.read())
            .await
            .map_err(|e| BackendError::Unavailable(format!("nft task: {e}")))?
    }

    async fn nft_replace(&self, state: NftState) -> Result<(), BackendError> {
        let nft = self.nft.clone();
        tokio::task::spawn_blocking(move || nft.replace(&state))
            .await
            .map_err(|e| BackendError::Unavailable(format!("nft task: {e}")))?
    }

    /// The plan for `entries` against what the kernel holds now (changes
    /// nothing).
    pub async fn plan(
        &mut self,
        ctx: &SwitchContext,
        entries: &[PipelineEntry],
    ) -> Result<(Desired, Plan), BackendError> {
        if desired::needs_8021q(entries)
            && let Some(reason) = self.missing_8021q().await?
        {
            return Err(BackendError::Refused(reason));
        }
        let want = desired::build(ctx, entries)?;
        let kernel = self.nl.snapshot().await?;
        let installed = self.nft_read().await?;
        let plan = plan::plan(&want, &kernel, &installed)?;
        Ok((want, plan))
    }

    async fn converge(
        &mut self,
        ctx: &SwitchContext,
        entries: &[PipelineEntry],
    ) -> Result<ApplyStats, BackendError> {
        let (want, plan) = self.plan(ctx, entries).await?;
        if plan.is_empty() {
            return Ok(ApplyStats::default());
        }
        tracing::debug!(?plan, "linux reconcile");
        let stats = self.execute(&want, &plan).await;
        // Count what was done even when a later step failed.
        let done = match &stats {
            Ok(s) => *s,
            Err((s, _)) => *s,
        };
        self.operations += done.added + done.removed;
        stats.map_err(|(_, e)| e)
    }

    /// Runs one phase: independent changes, pipelined.
    async fn phase(&self, requests: Vec<Request>, count: &mut u64) -> Result<(), BackendError> {
        let mut results = stream::iter(requests)
            .map(|r| self.nl.execute(r))
            .buffer_unordered(IN_FLIGHT);
        let mut first_error = None;
        while let Some(r) = results.next().await {
            match r {
                Ok(()) => *count += 1,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), |e| Err(nl_error(e)))
    }

    /// Creates links (request, name, alias), then marks them — every one
    /// that was created, even when another creation failed, so a partial
    /// failure never leaves unmarked links that would look foreign.
    async fn create(
        &self,
        links: Vec<(Request, String, String)>,
        count: &mut u64,
    ) -> Result<(), BackendError> {
        if links.is_empty() {
            return Ok(());
        }
        let mut reqs = Vec::new();
        let mut marks = Vec::new();
        for (r, n, a) in links {
            reqs.push(r);
            marks.push((n, a));
        }
        // Never mark a link that was there before (one created by someone
        // else between the plan and now makes our creation fail instead).
        let before = self.nl.snapshot().await?;
        let created = self.phase(reqs, count).await;
        let kernel = self.nl.snapshot().await?;
        let reqs = marks
            .iter()
            .filter(|(n, _)| before.by_name(n).is_none())
            .filter_map(|(n, a)| kernel.by_name(n).map(|l| netlink::mark(l.index, n, a)))
            .collect();
        self.phase(reqs, count).await?;
        created
    }

    async fn index_of(&self, names: &[String]) -> Result<Vec<u32>, BackendError> {
        let kernel = self.nl.snapshot().await?;
        names
            .iter()
            .map(|n| {
                kernel.by_name(n).map(|l| l.index).ok_or_else(|| {
                    BackendError::Unavailable(format!("link {n} vanished during reconcile"))
                })
            })
            .collect()
    }

    async fn execute(
        &self,
        want: &Desired,
        plan: &Plan,
    ) -> Result<ApplyStats, (ApplyStats, BackendError)> {
        let mut s = ApplyStats::default();
        match self.execute_phases(want, plan, &mut s).await {
            Ok(()) => Ok(s),
            Err(e) => Err((s, e)),
        }
    }

    async fn execute_phases(
        &self,
        want: &Desired,
        plan: &Plan,
        s: &mut ApplyStats,
    ) -> Result<(), BackendError> {
        use self::names::{Alias, bridge_name, subif_name, vxlan_name};
        let clear = plan
            .clear
            .iter()
            .map(|(i, n)| netlink::del_link(*i, n))
            .collect();
        self.phase(clear, &mut s.removed).await?;

        let bridges = plan
            .create_bridges
            .iter()
            .map(|&vni| {
                let name = bridge_name(vni);
                let alias = Alias::Bridge { vni }.to_string();
                (netlink::new_bridge(&name), name, alias)
            })
            .collect();
        self.create(bridges, &mut s.added).await?;

        if !plan.create_vxlans.is_empty() {
            let local = want
                .local
                .ok_or_else(|| BackendError::Refused("VXLAN device without a local VTEP".into()))?;
            let masters: Vec<String> = plan.create_vxlans.iter().map(|&v| bridge_name(v)).collect();
            let idx = self.index_of(&masters).await?;
            let reqs = plan
                .create_vxlans
                .iter()
                .zip(idx)
                .map(|(&vni, master)| {
                    let name = vxlan_name(vni);
                    let r = netlink::new_vxlan(&name, vni.get(), local, master, false);
                    (r, name, Alias::Vxlan { vni }.to_string())
                })
                .collect();
            self.create(reqs, &mut s.added).await?;
        }

        if !plan.add_fdb.is_empty() {
            let names: Vec<String> = plan.add_fdb.iter().map(|(v, _)| vxlan_name(*v)).collect();
            let idx = self.index_of(&names).await?;
            let reqs = plan
                .add_fdb
                .iter()
                .zip(idx)
                .zip(&names)
                .map(|(((_, dst), i), n)| netlink::fdb_append(i, n, *dst))
                .collect();
            self.phase(reqs, &mut s.added).await?;
        }

        if !plan.create_subifs.is_empty() {
            let mut names = Vec::new();
            for (vni, sub) in &plan.create_subifs {
                names.push(sub.parent.clone());
                names.push(bridge_name(*vni));
            }
            let idx = self.index_of(&names).await?;
            let reqs = plan
                .create_subifs
                .iter()
                .zip(idx.chunks(2))
                .map(|((vni, sub), pair)| {
                    let alias = Alias::Port {
                        port: sub.port,
                        tag: sub.tag,
                        vni: *vni,
                    };
                    let (parent, master) = (pair.first().copied(), pair.get(1).copied());
                    let name = subif_name(sub.port, sub.tag);
                    let r = netlink::new_subif(
                        &name,
                        parent.unwrap_or(0),
                        sub.tag.get(),
                        master.unwrap_or(0),
                    );
                    (r, name, alias.to_string())
                })
                .collect();
            self.create(reqs, &mut s.added).await?;
        }

        if !plan.enslave.is_empty() {
            let mut names = Vec::new();
            for (link, vni) in &plan.enslave {
                names.push(link.clone());
                names.push(bridge_name(*vni));
            }
            let idx = self.index_of(&names).await?;
            let reqs = plan
                .enslave
                .iter()
                .zip(idx.chunks(2))
                .map(|((link, _), pair)| {
                    netlink::set_master(
                        pair.first().copied().unwrap_or(0),
                        link,
                        pair.get(1).copied().unwrap_or(0),
                    )
                })
                .collect();
            self.phase(reqs, &mut s.added).await?;
        }

        if let Some(pre) = &plan.nft_pre {
            self.nft_replace(pre.clone()).await?;
            s.added += 1;
        }

        if !plan.up_after_drops.is_empty() {
            let names = &plan.up_after_drops;
            let idx = self.index_of(names).await?;
            let reqs = idx
                .into_iter()
                .zip(names)
                .map(|(i, n)| netlink::set_up(i, n))
                .collect();
            self.phase(reqs, &mut s.added).await?;
        }

        let release = plan
            .release
            .iter()
            .map(|(i, n)| netlink::set_master(*i, n, 0))
            .collect();
        self.phase(release, &mut s.removed).await?;
        let fdb = plan
            .del_fdb
            .iter()
            .map(|(e, n)| netlink::fdb_del(e, n))
            .collect();
        self.phase(fdb, &mut s.removed).await?;
        // Sub-interfaces, then VXLAN devices, then bridges (the plan's
        // order): one at a time, as each may depend on the previous.
        for (i, n) in &plan.delete {
            self.phase(vec![netlink::del_link(*i, n)], &mut s.removed)
                .await?;
        }
        if let Some(post) = &plan.nft_post {
            self.nft_replace(post.clone()).await?;
            s.added += 1;
        }
        Ok(())
    }
}

impl Backend for LinuxBackend {
    fn kind(&self) -> &'static str {
        "linux"
    }

    fn installed_generation(&self) -> u64 {
        self.generation
    }

    async fn reconcile(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        desired: &[PipelineEntry],
    ) -> Result<ApplyStats, BackendError> {
        let stats = self.converge(ctx, desired).await?;
        self.installed = desired.iter().copied().collect();
        self.generation = generation;
        Ok(stats)
    }

    /// Applies the delta to the entries of the last reconcile and converges
    /// on the result (the kernel is read back, so drift is repaired too).
    /// After a restart, call `reconcile` first: the in-memory entry set
    /// starts empty.
    async fn apply_delta(
        &mut self,
        ctx: &SwitchContext,
        generation: u64,
        delta: &SwitchDelta,
    ) -> Result<ApplyStats, BackendError> {
        let mut next = self.installed.clone();
        for e in &delta.removed {
            next.remove(e);
        }
        next.extend(delta.added.iter().copied());
        let entries: Vec<PipelineEntry> = next.iter().copied().collect();
        let stats = self.converge(ctx, &entries).await?;
        self.installed = next;
        self.generation = generation;
        Ok(stats)
    }

    async fn observe(&mut self, ctx: &SwitchContext) -> Result<Observed, BackendError> {
        let sw = ctx
            .topology
            .switches
            .get(ctx.switch.index())
            .ok_or_else(|| {
                BackendError::Unavailable(format!("switch {:?} is not in the topology", ctx.switch))
            })?;
        let kernel = self.nl.snapshot().await?;
        let installed = self.nft_read().await?;
        Ok(Observed {
            rules: observe::lower(sw, &kernel, installed.state()),
            counters: observe::counters(&kernel),
        })
    }
}
