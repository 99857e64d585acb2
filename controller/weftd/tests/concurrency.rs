//! Many operators at once: 16 clients, each the only writer of its own
//! operator's slice, send 500 mixed requests each against small VNI pools
//! (so pools run dry and VNIs are reused). Each client keeps an exact
//! model of its slice and checks every answer against it; afterwards the
//! acknowledged changes are replayed in revision order, the final state is
//! read back, and every pool is drained and refilled to prove nothing
//! leaked.

// Helpers outside #[test] functions unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Clients, Harness, rid};
use tonic::{Code, Status};
use weft_proto::v1::*;

const OPERATORS: usize = 16;
const REQUESTS_PER_CLIENT: usize = 500;
/// VNIs per operator: small, so creates run the pool dry.
const POOL: u32 = 4;
/// Network ids a client picks from: more than the pool holds.
const NAMES: u64 = 6;
/// Operators 0..PORTED get two server ports (one per leaf); two-racks has
/// four server ports per leaf.
const PORTED: usize = 4;

fn op_name(i: usize) -> String {
    format!("op{i:02}")
}

fn vni_base(i: usize) -> u32 {
    10_000 + u32::try_from(i).unwrap() * 100
}

fn ports_of(i: usize) -> Vec<String> {
    if i < PORTED {
        vec![
            format!("rack1-leaf/eth{}", i + 1),
            format!("rack2-leaf/eth{}", i + 1),
        ]
    } else {
        Vec::new()
    }
}

/// xorshift64*: deterministic per client, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// An acknowledged mutation.
#[derive(Debug, Clone)]
enum Change {
    Created { net: String, vni: u32 },
    Deleted { net: String },
    Attached { net: String, port: String },
    Detached { net: String, port: String },
}

#[derive(Debug, Clone)]
struct Event {
    revision: u64,
    op: usize,
    change: Change,
}

#[derive(Debug, Default)]
struct Tally {
    events: Vec<Event>,
    requests: usize,
    exhausted: usize,
    reused: usize,
    /// The client's model at the end: network → VNI, port → network.
    live: BTreeMap<String, u32>,
    attached: BTreeMap<String, String>,
}

fn attachment_name(op: &str, net: &str, port: &str) -> String {
    format!(
        "operators/{op}/networks/{net}/attachments/{}",
        port.replace('/', ":")
    )
}

fn expect_code<T: std::fmt::Debug>(what: &str, got: Result<T, Status>, want: Code) {
    match got {
        Err(e) if e.code() == want => {}
        other => panic!("{what}: expected {want:?}, got {other:?}"),
    }
}

/// Every network of `parent`, through pages of two.
async fn list_all(c: &mut Clients, parent: &str) -> Vec<Network> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .nets
            .list_networks(ListNetworksRequest {
                parent: parent.into(),
                page_size: 2,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        out.extend(page.networks);
        if page.next_page_token.is_empty() {
            return out;
        }
        token = page.next_page_token;
    }
}

/// One client's run: every answer is checked against the exact model of
/// its own slice (nobody else writes it).
async fn client(i: usize, mut me: Clients, mut reader: Clients) -> Tally {
    let op = op_name(i);
    let parent = format!("operators/{op}");
    let base = vni_base(i);
    let ports = ports_of(i);
    let mut rng =
        Rng(0x9E37_79B9_7F4A_7C15 ^ (u64::try_from(i).unwrap() + 1).wrapping_mul(0x1234_5678_9ABC));
    let mut t = Tally::default();
    let mut ever: BTreeSet<u32> = BTreeSet::new();
    let net_path = |net: &str| format!("{parent}/networks/{net}");
    for n in 0..REQUESTS_PER_CLIENT {
        let roll = rng.below(100);
        let net = format!("n{}", rng.below(NAMES));
        let ctx = format!("{op} request {n}");
        t.requests += 1;
        match roll {
            0..35 => {
                let req = CreateNetworkRequest {
                    parent: parent.clone(),
                    network_id: net.clone(),
                    network: None,
                    request_id: rid(),
                    validate_only: false,
                };
                let got = me.nets.create_network(req).await;
                if t.live.contains_key(&net) {
                    expect_code(
                        &format!("{ctx}: create existing {net}"),
                        got,
                        Code::AlreadyExists,
                    );
                } else if t.live.len() == usize::try_from(POOL).unwrap() {
                    expect_code(
                        &format!("{ctx}: create in a full pool"),
                        got,
                        Code::ResourceExhausted,
                    );
                    t.exhausted += 1;
                } else {
                    let resp = got
                        .unwrap_or_else(|e| panic!("{ctx}: create {net}: {e:?}"))
                        .into_inner();
                    let made = resp.network.clone().unwrap();
                    let held: BTreeSet<u32> = t.live.values().copied().collect();
                    let lowest = (base..base + POOL).find(|v| !held.contains(v)).unwrap();
                    assert_eq!(made.name, net_path(&net), "{ctx}");
                    assert_eq!(made.vni, lowest, "{ctx}: the lowest free VNI of the lease");
                    if !ever.insert(made.vni) {
                        t.reused += 1;
                    }
                    t.live.insert(net.clone(), made.vni);
                    t.events.push(Event {
                        revision: resp.revision,
                        op: i,
                        change: Change::Created {
                            net: net.clone(),
                            vni: made.vni,
                        },
                    });
                    // Visible at once, on another connection.
                    let seen = reader
                        .nets
                        .get_network(GetNetworkRequest {
                            name: made.name.clone(),
                        })
                        .await
                        .unwrap_or_else(|e| {
                            panic!("{ctx}: acknowledged create not visible: {e:?}")
                        });
                    assert_eq!(seen.into_inner().network.unwrap(), made, "{ctx}");
                    t.requests += 1;
                }
            }
            35..60 => {
                let got = me
                    .nets
                    .delete_network(DeleteNetworkRequest {
                        name: net_path(&net),
                        request_id: rid(),
                        ..Default::default()
                    })
                    .await;
                if t.live.remove(&net).is_some() {
                    let resp = got
                        .unwrap_or_else(|e| panic!("{ctx}: delete {net}: {e:?}"))
                        .into_inner();
                    t.attached.retain(|_, n| *n != net);
                    t.events.push(Event {
                        revision: resp.revision,
                        op: i,
                        change: Change::Deleted { net },
                    });
                } else {
                    expect_code(&format!("{ctx}: delete missing {net}"), got, Code::NotFound);
                }
            }
            60..75 => {
                let got = me
                    .nets
                    .get_network(GetNetworkRequest {
                        name: net_path(&net),
                    })
                    .await;
                match t.live.get(&net) {
                    Some(&vni) => {
                        let n = got
                            .unwrap_or_else(|e| panic!("{ctx}: get {net}: {e:?}"))
                            .into_inner();
                        assert_eq!(n.network.unwrap().vni, vni, "{ctx}");
                    }
                    None => expect_code(&format!("{ctx}: get missing {net}"), got, Code::NotFound),
                }
            }
            75..85 => {
                let all = list_all(&mut me, &parent).await;
                let listed: BTreeMap<String, u32> =
                    all.iter().map(|n| (n.name.clone(), n.vni)).collect();
                let want: BTreeMap<String, u32> =
                    t.live.iter().map(|(k, v)| (net_path(k), *v)).collect();
                assert_eq!(all.len(), listed.len(), "{ctx}: a page repeated a network");
                assert_eq!(listed, want, "{ctx}: list");
            }
            _ if !ports.is_empty() => {
                let port = ports[usize::try_from(rng.below(ports.len() as u64)).unwrap()].clone();
                if let Some(on) = t.attached.get(&port).cloned() {
                    let resp = me
                        .nets
                        .delete_attachment(DeleteAttachmentRequest {
                            name: attachment_name(&op, &on, &port),
                            request_id: rid(),
                            ..Default::default()
                        })
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: detach {port}: {e:?}"))
                        .into_inner();
                    t.attached.remove(&port);
                    t.events.push(Event {
                        revision: resp.revision,
                        op: i,
                        change: Change::Detached { net: on, port },
                    });
                } else if !t.live.is_empty() {
                    let k = usize::try_from(rng.below(t.live.len() as u64)).unwrap();
                    let on = t.live.keys().nth(k).unwrap().clone();
                    let resp = me
                        .nets
                        .create_attachment(CreateAttachmentRequest {
                            parent: net_path(&on),
                            attachment: Some(Attachment {
                                port: port.clone(),
                                mode: AttachmentMode::Access.into(),
                                ..Default::default()
                            }),
                            request_id: rid(),
                            validate_only: false,
                        })
                        .await
                        .unwrap_or_else(|e| panic!("{ctx}: attach {port} to {on}: {e:?}"))
                        .into_inner();
                    assert_eq!(
                        resp.attachment.unwrap().name,
                        attachment_name(&op, &on, &port)
                    );
                    t.attached.insert(port.clone(), on.clone());
                    t.events.push(Event {
                        revision: resp.revision,
                        op: i,
                        change: Change::Attached { net: on, port },
                    });
                }
            }
            _ => {
                me.ops
                    .get_lease(GetLeaseRequest {
                        name: format!("{parent}/lease"),
                    })
                    .await
                    .unwrap();
            }
        }
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_operators_hammer_small_pools_without_losing_or_sharing_a_vni() {
    let h = Harness::start(false, true).await;
    let mut admin = h.admin().await;
    for i in 0..OPERATORS {
        let op = op_name(i);
        admin
            .ops
            .create_operator(CreateOperatorRequest {
                operator_id: op.clone(),
                operator: None,
                request_id: rid(),
                validate_only: false,
            })
            .await
            .unwrap();
        admin
            .ops
            .set_lease(SetLeaseRequest {
                lease: Some(Lease {
                    name: format!("operators/{op}/lease"),
                    ports: ports_of(i),
                    vni_range: format!("{}-{}", vni_base(i), vni_base(i) + POOL - 1),
                    ..Default::default()
                }),
                request_id: rid(),
                validate_only: false,
            })
            .await
            .unwrap();
    }
    let start_rev = admin
        .fabric
        .get_fabric_status(GetFabricStatusRequest::default())
        .await
        .unwrap()
        .into_inner()
        .revision;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..OPERATORS {
        let me = h.operator(&op_name(i)).await;
        let reader = admin.clone();
        tasks.push(tokio::spawn(client(i, me, reader)));
    }
    let mut tallies = Vec::new();
    for t in tasks {
        let t = tokio::time::timeout(Duration::from_secs(300), t)
            .await
            .expect("a client hung");
        tallies.push(t.unwrap());
    }
    let elapsed = started.elapsed();
    let requests: usize = tallies.iter().map(|t| t.requests).sum();
    let exhausted: usize = tallies.iter().map(|t| t.exhausted).sum();
    let reused: usize = tallies.iter().map(|t| t.reused).sum();
    let mut events: Vec<Event> = tallies
        .iter()
        .flat_map(|t| t.events.iter().cloned())
        .collect();
    eprintln!(
        "{requests} requests ({} acknowledged mutations) in {elapsed:?}; {exhausted} RESOURCE_EXHAUSTED, {reused} VNI reuses",
        events.len()
    );
    assert!(exhausted > 0, "the pools never ran dry: make them smaller");
    assert!(reused > 0, "no VNI was ever reused");

    // Replay in revision order: one revision per acknowledged mutation, and
    // at no revision does a VNI belong to two live networks.
    events.sort_by_key(|e| e.revision);
    let revs: Vec<u64> = events.iter().map(|e| e.revision).collect();
    let want: Vec<u64> = (start_rev + 1..=start_rev + revs.len() as u64).collect();
    assert_eq!(
        revs, want,
        "acknowledged mutations hold consecutive, distinct revisions"
    );
    let mut by_vni: BTreeMap<u32, (usize, String)> = BTreeMap::new();
    let mut nets: BTreeMap<(usize, String), u32> = BTreeMap::new();
    let mut ports: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for e in &events {
        let at = format!("revision {}", e.revision);
        match &e.change {
            Change::Created { net, vni } => {
                if let Some(holder) = by_vni.insert(*vni, (e.op, net.clone())) {
                    panic!(
                        "{at}: VNI {vni} given to {}/{net} while {holder:?} holds it",
                        op_name(e.op)
                    );
                }
                assert!(
                    nets.insert((e.op, net.clone()), *vni).is_none(),
                    "{at}: {net} created twice"
                );
            }
            Change::Deleted { net } => {
                let vni = nets
                    .remove(&(e.op, net.clone()))
                    .unwrap_or_else(|| panic!("{at}: {net} deleted unborn"));
                by_vni.remove(&vni);
                ports.retain(|_, on| *on != (e.op, net.clone()));
            }
            Change::Attached { net, port } => {
                assert!(
                    nets.contains_key(&(e.op, net.clone())),
                    "{at}: attached to a dead network"
                );
                assert!(
                    ports.insert(port.clone(), (e.op, net.clone())).is_none(),
                    "{at}: {port} attached twice"
                );
            }
            Change::Detached { net, port } => {
                assert_eq!(
                    ports.remove(port),
                    Some((e.op, net.clone())),
                    "{at}: detached what was not attached"
                );
            }
        }
    }

    // Nothing else moved the store; every agent installed everything.
    let last = start_rev + events.len() as u64;
    let mut req = tonic::Request::new(GetFabricStatusRequest {
        wait_for_revision: last,
    });
    req.set_timeout(Duration::from_secs(30));
    let status = admin
        .fabric
        .get_fabric_status(req)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.revision, last);
    assert!(status.isolated);

    // The final state, read by the admin, is the replayed one and every
    // client's model; no VNI is listed twice.
    let mut listed_vnis = Vec::new();
    for (i, t) in tallies.iter().enumerate() {
        let op = op_name(i);
        let all = list_all(&mut admin, &format!("operators/{op}")).await;
        let listed: BTreeMap<String, u32> = all
            .iter()
            .map(|n| (n.name.rsplit('/').next().unwrap().to_owned(), n.vni))
            .collect();
        listed_vnis.extend(all.iter().map(|n| n.vni));
        let replayed: BTreeMap<String, u32> = nets
            .iter()
            .filter(|((o, _), _)| *o == i)
            .map(|((_, n), v)| (n.clone(), *v))
            .collect();
        assert_eq!(listed, replayed, "{op}: listed vs replayed");
        assert_eq!(listed, t.live, "{op}: listed vs the client's model");
        for net in t.live.keys() {
            let atts = admin
                .nets
                .list_attachments(ListAttachmentsRequest {
                    parent: format!("operators/{op}/networks/{net}"),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner();
            let got: BTreeSet<String> = atts.attachments.into_iter().map(|a| a.port).collect();
            let want: BTreeSet<String> = t
                .attached
                .iter()
                .filter(|(_, n)| *n == net)
                .map(|(p, _)| p.clone())
                .collect();
            assert_eq!(got, want, "{op}/{net}: attachments");
        }
    }
    let distinct: BTreeSet<u32> = listed_vnis.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        listed_vnis.len(),
        "a VNI is held by two live networks: {listed_vnis:?}"
    );

    // No leak: empty every pool, then fill it: exactly POOL networks fit,
    // holding exactly the range.
    for i in 0..OPERATORS {
        let op = op_name(i);
        for n in list_all(&mut admin, &format!("operators/{op}")).await {
            admin
                .nets
                .delete_network(DeleteNetworkRequest {
                    name: n.name,
                    request_id: rid(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let mut got = BTreeSet::new();
        let mut k = 0;
        loop {
            let r = admin
                .nets
                .create_network(CreateNetworkRequest {
                    parent: format!("operators/{op}"),
                    network_id: format!("fill{k}"),
                    network: None,
                    request_id: rid(),
                    validate_only: false,
                })
                .await;
            match r {
                Ok(r) => {
                    got.insert(r.into_inner().network.unwrap().vni);
                }
                Err(e) if e.code() == Code::ResourceExhausted => break,
                Err(e) => panic!("{op}: refill: {e:?}"),
            }
            k += 1;
            assert!(
                k <= POOL,
                "{op}: more than {POOL} networks fit in a pool of {POOL}"
            );
        }
        let range: BTreeSet<u32> = (vni_base(i)..vni_base(i) + POOL).collect();
        assert_eq!(
            got, range,
            "{op}: after draining, the pool holds exactly its range"
        );
    }
    h.stop().await;
}
