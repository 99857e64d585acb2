//! `weft.v1.NetworkService`.

use std::collections::BTreeSet;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use weft_model::Name;
use weft_proto::v1::network_service_server::NetworkService;
use weft_proto::v1::*;
use weft_store::EventsSince;

use super::changes;
use super::{Api, paginate};
use crate::auth::{Access, Scope};
use crate::convert;
use crate::core::Core;
use crate::names::{Expect, ResourceName};

macro_rules! method {
    ($name:literal) => {
        concat!("/weft.v1.NetworkService/", $name)
    };
}

fn rev(core: &Core, name: &str) -> u64 {
    core.revs.get(name).copied().unwrap_or(core.revision)
}

fn network_of(core: &Core, op: &Name, net: &Name) -> Option<Network> {
    let n = core.intent.operator(op.as_str())?.networks.get(net)?;
    Some(convert::network(
        op,
        n,
        rev(core, &format!("operators/{op}/networks/{net}")),
    ))
}

fn not_found(name: &str) -> Status {
    Status::not_found(format!("{name} not found"))
}

/// Every resource under `prefix` ("" for all) as EXISTING watch events.
fn existing(core: &Core, only: Option<&Name>) -> Vec<WatchResponse> {
    use watch_response::Resource as R;
    let topo = core.topo();
    let mut out = Vec::new();
    let mut push = |name: String, r: R| {
        out.push(WatchResponse {
            revision: core.revision,
            r#type: WatchEventType::Existing.into(),
            name,
            resource: Some(r),
        })
    };
    for op in core.intent.operators.values() {
        if only.is_some_and(|o| *o != op.name) {
            continue;
        }
        let key = format!("operators/{}", op.name);
        push(
            key.clone(),
            R::Operator(convert::operator(op, rev(core, &key))),
        );
        let lkey = format!("{key}/lease");
        if let Some(l) = convert::lease(topo, &core.intent, &op.name, rev(core, &lkey)) {
            push(lkey, R::Lease(l));
        }
        for net in op.networks.values() {
            let nkey = format!("{key}/networks/{}", net.name);
            push(
                nkey.clone(),
                R::Network(convert::network(&op.name, net, rev(core, &nkey))),
            );
            for (&port, &mode) in &net.attachments {
                let akey = crate::records::attachment_name(topo, &op.name, &net.name, port);
                let a =
                    convert::attachment(topo, &op.name, &net.name, port, mode, rev(core, &akey));
                push(akey, R::Attachment(a));
            }
        }
    }
    out
}

fn visible(name: &str, only: Option<&Name>) -> bool {
    match only {
        None => true,
        Some(op) => {
            let own = format!("operators/{op}");
            name == own || name.starts_with(&format!("{own}/"))
        }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl NetworkService for Api {
    async fn create_network(
        &self,
        req: Request<CreateNetworkRequest>,
    ) -> Result<Response<CreateNetworkResponse>, Status> {
        let m = method!("CreateNetwork");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("parent", &r.parent)?;
        self.check(&p, Access::Write, Scope::Slice(&owner), m, "")
            .await?;
        let change = changes::create_network(r)?;
        let (op, net) = match &change.change {
            weft_model::IntentChange::CreateNetwork { operator, name, .. } => {
                (operator.clone(), name.clone())
            }
            _ => return Err(Status::internal("unexpected change")),
        };
        let out = self
            .run_change(&req, &p, m, change, "network", move |core, revision| {
                CreateNetworkResponse {
                    network: network_of(core, &op, &net),
                    revision,
                }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn get_network(
        &self,
        req: Request<GetNetworkRequest>,
    ) -> Result<Response<GetNetworkResponse>, Status> {
        let m = method!("GetNetwork");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("name", &r.name)?;
        self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.name)
            .await?;
        let ResourceName::Network(op, net) = ResourceName::parse("name", &r.name, Expect::Network)?
        else {
            return Err(Status::invalid_argument("name"));
        };
        let core = self.c.core.lock().await;
        let network = network_of(&core, &op, &net).ok_or_else(|| not_found(&r.name))?;
        Ok(Response::new(GetNetworkResponse {
            network: Some(network),
        }))
    }

    async fn list_networks(
        &self,
        req: Request<ListNetworksRequest>,
    ) -> Result<Response<ListNetworksResponse>, Status> {
        let m = method!("ListNetworks");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("parent", &r.parent)?;
        self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.parent)
            .await?;
        ResourceName::parse("parent", &r.parent, Expect::Operator)?;
        let core = self.c.core.lock().await;
        let op = core
            .intent
            .operator(owner.as_str())
            .ok_or_else(|| not_found(&r.parent))?;
        let items = op.networks.values().map(|n| {
            let key = format!("operators/{owner}/networks/{}", n.name);
            let v = convert::network(&owner, n, rev(&core, &key));
            (key, v)
        });
        let (networks, next_page_token) = paginate(items, r.page_size, &r.page_token)?;
        Ok(Response::new(ListNetworksResponse {
            networks,
            next_page_token,
        }))
    }

    async fn delete_network(
        &self,
        req: Request<DeleteNetworkRequest>,
    ) -> Result<Response<DeleteNetworkResponse>, Status> {
        let m = method!("DeleteNetwork");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("name", &r.name)?;
        self.check(&p, Access::Write, Scope::Slice(&owner), m, "")
            .await?;
        let change = changes::delete_network(r)?;
        let out = self
            .run_change(&req, &p, m, change, "", move |_, revision| {
                DeleteNetworkResponse { revision }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn create_attachment(
        &self,
        req: Request<CreateAttachmentRequest>,
    ) -> Result<Response<CreateAttachmentResponse>, Status> {
        let m = method!("CreateAttachment");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("parent", &r.parent)?;
        self.check(&p, Access::Write, Scope::Slice(&owner), m, "")
            .await?;
        let (topo, digest) = self.c.topology().await;
        let mut change = changes::create_attachment(&topo, r)?;
        change.topology_digest = Some(digest);
        let (op, net, port, mode) = match &change.change {
            weft_model::IntentChange::Attach {
                operator,
                network,
                port,
                mode,
            } => (operator.clone(), network.clone(), *port, *mode),
            _ => return Err(Status::internal("unexpected change")),
        };
        let out = self
            .run_change(&req, &p, m, change, "attachment", move |core, revision| {
                let rv = if revision == 0 {
                    core.revision
                } else {
                    revision
                };
                CreateAttachmentResponse {
                    attachment: Some(convert::attachment(core.topo(), &op, &net, port, mode, rv)),
                    revision,
                }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn get_attachment(
        &self,
        req: Request<GetAttachmentRequest>,
    ) -> Result<Response<GetAttachmentResponse>, Status> {
        let m = method!("GetAttachment");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("name", &r.name)?;
        self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.name)
            .await?;
        let core = self.c.core.lock().await;
        let (op, net, port) = changes::attachment_ref(core.topo(), "name", &r.name)?;
        let mode = core
            .intent
            .operator(op.as_str())
            .and_then(|o| o.networks.get(&net))
            .and_then(|n| n.attachments.get(&port))
            .ok_or_else(|| not_found(&r.name))?;
        let a = convert::attachment(core.topo(), &op, &net, port, *mode, rev(&core, &r.name));
        Ok(Response::new(GetAttachmentResponse {
            attachment: Some(a),
        }))
    }

    async fn list_attachments(
        &self,
        req: Request<ListAttachmentsRequest>,
    ) -> Result<Response<ListAttachmentsResponse>, Status> {
        let m = method!("ListAttachments");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("parent", &r.parent)?;
        self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.parent)
            .await?;
        let ResourceName::Network(op, net) =
            ResourceName::parse("parent", &r.parent, Expect::Network)?
        else {
            return Err(Status::invalid_argument("parent"));
        };
        let core = self.c.core.lock().await;
        let network = core
            .intent
            .operator(op.as_str())
            .and_then(|o| o.networks.get(&net))
            .ok_or_else(|| not_found(&r.parent))?;
        let topo = core.topo();
        let items = network.attachments.iter().map(|(&port, &mode)| {
            let key = crate::records::attachment_name(topo, &op, &net, port);
            let v = convert::attachment(topo, &op, &net, port, mode, rev(&core, &key));
            (key, v)
        });
        let (attachments, next_page_token) = paginate(items, r.page_size, &r.page_token)?;
        Ok(Response::new(ListAttachmentsResponse {
            attachments,
            next_page_token,
        }))
    }

    async fn delete_attachment(
        &self,
        req: Request<DeleteAttachmentRequest>,
    ) -> Result<Response<DeleteAttachmentResponse>, Status> {
        let m = method!("DeleteAttachment");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("name", &r.name)?;
        self.check(&p, Access::Write, Scope::Slice(&owner), m, "")
            .await?;
        let (topo, digest) = self.c.topology().await;
        let mut change = changes::delete_attachment(&topo, r)?;
        change.topology_digest = Some(digest);
        let out = self
            .run_change(&req, &p, m, change, "", move |_, revision| {
                DeleteAttachmentResponse { revision }
            })
            .await?;
        Ok(Response::new(out))
    }

    async fn get_network_status(
        &self,
        req: Request<GetNetworkStatusRequest>,
    ) -> Result<Response<GetNetworkStatusResponse>, Status> {
        let m = method!("GetNetworkStatus");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let owner = changes::owner("name", &r.name)?;
        self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.name)
            .await?;
        let ResourceName::Network(op, net) = ResourceName::parse("name", &r.name, Expect::Network)?
        else {
            return Err(Status::invalid_argument("name"));
        };
        let core = self.c.core.lock().await;
        let vni = core
            .intent
            .operator(op.as_str())
            .and_then(|o| o.networks.get(&net))
            .map(|n| n.vni)
            .ok_or_else(|| not_found(&r.name))?;
        let carriers: BTreeSet<String> = core
            .topo()
            .switch_ids()
            .filter(|&s| core.compiler.entries(s).iter().any(|e| e.vni() == vni))
            .map(|s| core.topo().switch(s).name.to_string())
            .collect();
        drop(core);
        let mut switches = self.c.sessions.status(Some(&carriers));
        super::redact_agent_errors(&p, &mut switches);
        let programmed = switches
            .iter()
            .all(|s| s.acked_generation >= s.desired_generation);
        let counters = self
            .c
            .sessions
            .counters(vni.get())
            .into_iter()
            .map(|(switch, packets, bytes)| NetworkCounters {
                switch,
                packets,
                bytes,
            })
            .collect();
        Ok(Response::new(GetNetworkStatusResponse {
            network: r.name.clone(),
            programmed,
            switches,
            counters,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        req: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let m = method!("Watch");
        let p = self.who(&req, m).await?;
        let r = req.get_ref();
        let only = if r.parent.is_empty() {
            self.check(&p, Access::Read, Scope::Everything, m, "")
                .await?;
            None
        } else {
            let owner = changes::owner("parent", &r.parent)?;
            self.check(&p, Access::Read, Scope::Slice(&owner), m, &r.parent)
                .await?;
            ResourceName::parse("parent", &r.parent, Expect::Operator)?;
            Some(owner)
        };
        let (tx, rx) = mpsc::channel::<Result<WatchResponse, Status>>(256);
        let core = self.c.core.lock().await;
        let mut live = self.c.subscribe_events();
        let mut last = core.revision;
        let initial: Vec<WatchResponse> = if r.resume_revision == 0 {
            let mut evs = existing(&core, only.as_ref());
            evs.push(WatchResponse {
                revision: core.revision,
                r#type: WatchEventType::Bookmark.into(),
                name: String::new(),
                resource: None,
            });
            evs
        } else if r.resume_revision > core.revision {
            return Err(Status::out_of_range(format!(
                "resume_revision {} is ahead of the store ({}); list again",
                r.resume_revision, core.revision
            )));
        } else {
            match self.c.store().events_since(r.resume_revision) {
                Ok(EventsSince::Events(evs)) => evs
                    .into_iter()
                    .filter_map(|(_, bytes)| {
                        <WatchResponse as prost::Message>::decode(bytes.as_slice()).ok()
                    })
                    .filter(|e| visible(&e.name, only.as_ref()))
                    .collect(),
                Ok(EventsSince::Compacted { oldest_available }) => {
                    return Err(Status::out_of_range(format!(
                        "revision {} is compacted (oldest replayable: {oldest_available}); list again",
                        r.resume_revision
                    )));
                }
                Err(e) => return Err(crate::ha::store_status(&e, self.c.leader().as_deref())),
            }
        };
        drop(core);
        let closed = self.c.closed();
        tokio::spawn(async move {
            tokio::pin!(closed);
            for e in initial {
                if tx.send(Ok(e)).await.is_err() {
                    return;
                }
            }
            loop {
                let next = tokio::select! {
                    () = &mut closed => return,
                    n = live.recv() => n,
                };
                match next {
                    Ok(batch) => {
                        if batch.revision <= last {
                            continue;
                        }
                        last = batch.revision;
                        for e in batch
                            .events
                            .iter()
                            .filter(|e| visible(&e.name, only.as_ref()))
                        {
                            if tx.send(Ok(e.clone())).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx
                            .send(Err(Status::aborted(format!(
                                "watch fell behind; resume from revision {last}"
                            ))))
                            .await;
                        return;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
