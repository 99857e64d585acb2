//! Ready-made intent changes on a validated fabric, for benches and tests:
//! moving one port between two networks, and creating then deleting a
//! network with attachments.
//!
//! Both pick their subjects deterministically from a `pick` number, so a
//! bench can cycle through many different moves, and both come with their
//! inverse so a bench can go back and forth without drifting.

use std::collections::BTreeMap;

use weft_model::{AttachMode, Intent, IntentChange, Name, Operator, PortKey, SwitchId, VlanId};

/// One attached port moved from one network to another of its operator:
/// the everyday "re-plug this server into the other VLAN" change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMove {
    pub operator: Name,
    pub port: PortKey,
    /// Kept across the move.
    pub mode: AttachMode,
    pub from: Name,
    pub to: Name,
}

impl PortMove {
    /// A move of some attachment of `intent`. Different `pick`s spread over
    /// the fabric. The target network has no attachment on the port's leaf
    /// when one exists, so the move changes tunnels on other leaves too —
    /// the realistic, not the cheapest, case. `None` when no attachment can
    /// move (no operator has two networks).
    pub fn find(intent: &Intent, pick: usize) -> Option<PortMove> {
        let count = intent.attachments().count();
        if count == 0 {
            return None;
        }
        // A multiplicative stride so that consecutive picks land far apart.
        let start = pick.wrapping_mul(7919).wrapping_add(pick / count) % count;
        intent
            .attachments()
            .skip(start)
            .chain(intent.attachments().take(start))
            .find_map(|(op, net, port, mode)| {
                let to = target(op, &net.name, port, mode)?;
                Some(PortMove {
                    operator: op.name.clone(),
                    port,
                    mode,
                    from: net.name.clone(),
                    to,
                })
            })
    }

    /// Detach from `from`, then attach to `to`.
    pub fn forward(&self) -> [IntentChange; 2] {
        self.changes(&self.from, &self.to)
    }

    /// The move back.
    pub fn backward(&self) -> [IntentChange; 2] {
        self.changes(&self.to, &self.from)
    }

    fn changes(&self, from: &Name, to: &Name) -> [IntentChange; 2] {
        [
            IntentChange::Detach {
                operator: self.operator.clone(),
                network: from.clone(),
                port: self.port,
            },
            IntentChange::Attach {
                operator: self.operator.clone(),
                network: to.clone(),
                port: self.port,
                mode: self.mode,
            },
        ]
    }
}

/// A network of `op` that `port` can join in `mode` once detached from
/// `from`, preferring one without attachments on the port's switch.
fn target(op: &Operator, from: &Name, port: PortKey, mode: AttachMode) -> Option<Name> {
    // The port may carry one access attachment and distinct tags: after
    // leaving `from`, `mode` must not be taken by another network.
    let conflict = op
        .networks
        .values()
        .any(|n| n.name != *from && n.attachments.get(&port) == Some(&mode));
    if conflict {
        return None;
    }
    let names: Vec<&Name> = op.networks.keys().collect();
    let here = names.iter().position(|n| *n == from)?;
    // Start half-way round, away from `from`'s neighbours (which generated
    // fabrics place on the same leaves).
    let order = (1..names.len()).map(|k| names[(here + names.len() / 2 + k - 1) % names.len()]);
    let candidates: Vec<&Name> = order
        .filter(|n| *n != from && !op.networks[*n].attachments.contains_key(&port))
        .collect();
    let off_leaf = candidates.iter().find(|n| {
        !op.networks[**n]
            .attachments
            .keys()
            .any(|p| p.switch == port.switch)
    });
    off_leaf.or(candidates.first()).map(|n| (*n).clone())
}

/// A network created with attachments, then deleted (which detaches them):
/// an operator spinning up a short-lived environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkChurn {
    pub operator: Name,
    pub network: Name,
    pub attachments: Vec<(PortKey, AttachMode)>,
}

/// The operator tag churn networks use: generated fabrics only tag with
/// [`TAGS`](crate::TAGS), so it never collides there.
pub const CHURN_TAG: u16 = 4094;

impl NetworkChurn {
    /// A new network for some leased operator (chosen by `pick`) with up to
    /// `ports` attachments spread over `span` of its leaves, tagged
    /// [`CHURN_TAG`] so they coexist with the ports' existing attachments.
    /// Its VNI is left to the allocator. `None` when no operator has a lease
    /// with a port that can take the tag.
    pub fn find(intent: &Intent, pick: usize, ports: usize, span: usize) -> Option<NetworkChurn> {
        let tag = VlanId::new(u64::from(CHURN_TAG)).ok()?;
        let mode = AttachMode::Tagged(tag);
        let leased: Vec<&Operator> = intent
            .operators
            .values()
            .filter(|op| op.lease.is_some())
            .collect();
        let op = *leased.get(pick % leased.len().max(1))?;
        let lease = op.lease.as_ref()?;
        let mut by_switch: BTreeMap<SwitchId, Vec<PortKey>> = BTreeMap::new();
        for port in &lease.ports {
            let taken = op
                .networks
                .values()
                .any(|n| n.attachments.get(port) == Some(&mode));
            if !taken {
                by_switch.entry(port.switch).or_default().push(*port);
            }
        }
        let switches: Vec<&Vec<PortKey>> = by_switch.values().collect();
        if switches.is_empty() {
            return None;
        }
        let span = span.clamp(1, switches.len());
        let per_switch = ports.div_ceil(span).max(1);
        // Evenly spaced leaves of the lease.
        let attachments: Vec<(PortKey, AttachMode)> = (0..span)
            .flat_map(|i| switches[i * switches.len() / span].iter().take(per_switch))
            .take(ports)
            .map(|p| (*p, mode))
            .collect();
        let network = (0..)
            .map(|i| {
                if i == 0 {
                    "churn".to_owned()
                } else {
                    format!("churn-{i}")
                }
            })
            .find(|n| !op.networks.contains_key(n.as_str()))
            .and_then(|n| Name::new(n).ok())?;
        Some(NetworkChurn {
            operator: op.name.clone(),
            network,
            attachments,
        })
    }

    /// Create the network (VNI allocated), then attach its ports.
    pub fn create(&self) -> Vec<IntentChange> {
        let mut changes = vec![IntentChange::CreateNetwork {
            operator: self.operator.clone(),
            name: self.network.clone(),
            vni: None,
            fabric_vlan: None,
        }];
        changes.extend(
            self.attachments
                .iter()
                .map(|(port, mode)| IntentChange::Attach {
                    operator: self.operator.clone(),
                    network: self.network.clone(),
                    port: *port,
                    mode: *mode,
                }),
        );
        changes
    }

    /// Delete the network; its attachments go with it.
    pub fn delete(&self) -> IntentChange {
        IntentChange::DeleteNetwork {
            operator: self.operator.clone(),
            name: self.network.clone(),
        }
    }
}
