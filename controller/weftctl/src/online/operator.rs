//! `weftctl operator …` and `weftctl lease …`: OperatorService.

use clap::Subcommand;
use weft_proto::v1::{
    CreateOperatorRequest, DeleteLeaseRequest, DeleteOperatorRequest, GetLeaseRequest,
    GetOperatorRequest, Lease, ListOperatorsRequest, Operator, Quotas, SetLeaseRequest,
    UpdateOperatorRequest,
};

use super::client::{Session, request_id};
use super::error::OnlineError;
use super::names::{lease_name, operator_name, parse_operator, parse_port};
use super::render::{self, Format};
use super::views::{LeaseView, MutationView, OperatorView, ResourceView};
use super::{MutateArgs, after_mutation};
use crate::exit::Outcome;
use crate::out::Out;

#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Create an operator (admins). It has no lease yet: see `lease set`.
    Create {
        /// The operator's id, a DNS label, e.g. alpha.
        id: String,
        /// Free text for people, e.g. "Alpha Cloud".
        #[arg(long)]
        display_name: Option<String>,
        /// Check without storing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Show an operator.
    Get {
        /// ID or operators/ID.
        operator: String,
    },
    /// List operators (an operator sees only itself).
    List,
    /// Change an operator's display name.
    Update {
        /// ID or operators/ID.
        operator: String,
        #[arg(long)]
        display_name: String,
        /// Only if the operator is unchanged since it was read with this etag.
        #[arg(long)]
        etag: Option<String>,
        /// Check without storing.
        #[arg(long)]
        validate_only: bool,
    },
    /// Delete an operator with its lease, networks and attachments.
    Delete {
        /// ID or operators/ID.
        operator: String,
        /// Only if the operator is unchanged since it was read with this etag.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        mutate: MutateArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum LeaseCommand {
    /// Show an operator's lease.
    Get {
        /// ID or operators/ID.
        operator: String,
    },
    /// Create or replace an operator's lease (admins). Dropped ports are
    /// detached; a VNI range that excludes an existing network is refused.
    Set {
        /// ID or operators/ID.
        operator: String,
        /// A leased server port, SWITCH/PORT; repeat or separate with commas.
        #[arg(long = "port", value_name = "SWITCH/PORT", value_delimiter = ',')]
        ports: Vec<String>,
        /// Delegated VNI range, FIRST-LAST.
        #[arg(long, value_name = "FIRST-LAST")]
        vni: String,
        /// Delegated fabric VLAN range, FIRST-LAST (vlan fabrics only).
        #[arg(long, value_name = "FIRST-LAST")]
        vlan: Option<String>,
        /// Quota: networks (default 64).
        #[arg(long, value_name = "N")]
        networks: Option<u32>,
        /// Quota: attachments (default 512).
        #[arg(long, value_name = "N")]
        attachments: Option<u32>,
        /// Quota: pipeline entries on any one switch (default 4096).
        #[arg(long, value_name = "N")]
        entries_per_switch: Option<u32>,
        /// Only if the lease is unchanged since it was read with this etag.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        mutate: MutateArgs,
    },
    /// Delete an operator's lease (refused while it has networks).
    Delete {
        /// ID or operators/ID.
        operator: String,
        /// Only if the lease is unchanged since it was read with this etag.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        mutate: MutateArgs,
    },
}

/// Page size of list calls: the API's maximum, so few round trips.
pub const PAGE_SIZE: i32 = 1000;

pub async fn run_operator(
    command: &OperatorCommand,
    session: &mut Session,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    match command {
        OperatorCommand::Create {
            id,
            display_name,
            validate_only,
        } => {
            let id = parse_operator(id)?;
            let mut client = session.operators().await?;
            let response = client
                .create_operator(session.request(CreateOperatorRequest {
                    operator_id: id.clone(),
                    operator: Some(Operator {
                        display_name: display_name.clone().unwrap_or_default(),
                        ..Operator::default()
                    }),
                    request_id: request_id(),
                    validate_only: *validate_only,
                }))
                .await?
                .into_inner();
            let view = MutationView {
                action: "created",
                name: operator_name(&id),
                revision: response.revision,
                validate_only: *validate_only,
                resource: response
                    .operator
                    .as_ref()
                    .map(|o| ResourceView::Operator(o.into())),
            };
            render::emit(out, format, &view, render::mutation)?;
        }
        OperatorCommand::Get { operator } => {
            let name = operator_name(&parse_operator(operator)?);
            let mut client = session.operators().await?;
            let response = client
                .get_operator(session.request(GetOperatorRequest { name }))
                .await?
                .into_inner();
            let Some(operator) = response.operator else {
                return Err(missing("an operator"));
            };
            let view = OperatorView::from(&operator);
            render::emit(out, format, &view, |o| {
                render::operators(std::slice::from_ref(o))
            })?;
        }
        OperatorCommand::List => {
            let mut client = session.operators().await?;
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_operators(session.request(ListOperatorsRequest {
                        page_size: PAGE_SIZE,
                        page_token,
                    }))
                    .await?
                    .into_inner();
                all.extend(page.operators.iter().map(OperatorView::from));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            render::emit(out, format, &all, |ops| render::operators(ops))?;
        }
        OperatorCommand::Update {
            operator,
            display_name,
            etag,
            validate_only,
        } => {
            let name = operator_name(&parse_operator(operator)?);
            let mut client = session.operators().await?;
            let response = client
                .update_operator(session.request(UpdateOperatorRequest {
                    operator: Some(Operator {
                        name: name.clone(),
                        display_name: display_name.clone(),
                        etag: etag.clone().unwrap_or_default(),
                    }),
                    request_id: request_id(),
                    validate_only: *validate_only,
                }))
                .await?
                .into_inner();
            let view = MutationView {
                action: "updated",
                name,
                revision: response.revision,
                validate_only: *validate_only,
                resource: response
                    .operator
                    .as_ref()
                    .map(|o| ResourceView::Operator(o.into())),
            };
            render::emit(out, format, &view, render::mutation)?;
        }
        OperatorCommand::Delete {
            operator,
            etag,
            mutate,
        } => {
            let name = operator_name(&parse_operator(operator)?);
            let mut client = session.operators().await?;
            let response = client
                .delete_operator(session.request(DeleteOperatorRequest {
                    name: name.clone(),
                    etag: etag.clone().unwrap_or_default(),
                    request_id: request_id(),
                    validate_only: mutate.validate_only,
                }))
                .await?
                .into_inner();
            let view = deleted(name, response.revision, *mutate);
            return after_mutation(session, out, format, &view, *mutate).await;
        }
    }
    Ok(Outcome::Ok)
}

pub async fn run_lease(
    command: &LeaseCommand,
    session: &mut Session,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    match command {
        LeaseCommand::Get { operator } => {
            let name = lease_name(&parse_operator(operator)?);
            let mut client = session.operators().await?;
            let response = client
                .get_lease(session.request(GetLeaseRequest { name }))
                .await?
                .into_inner();
            let Some(lease) = response.lease else {
                return Err(missing("a lease"));
            };
            render::emit(out, format, &LeaseView::from(&lease), render::lease)?;
            Ok(Outcome::Ok)
        }
        LeaseCommand::Set {
            operator,
            ports,
            vni,
            vlan,
            networks,
            attachments,
            entries_per_switch,
            etag,
            mutate,
        } => {
            let name = lease_name(&parse_operator(operator)?);
            let ports = ports
                .iter()
                .map(|p| parse_port(p).map(|p| p.wire()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut client = session.operators().await?;
            let lease = Lease {
                name: name.clone(),
                ports,
                vni_range: vni.clone(),
                vlan_range: vlan.clone().unwrap_or_default(),
                quotas: Some(Quotas {
                    networks: *networks,
                    attachments: *attachments,
                    entries_per_switch: *entries_per_switch,
                }),
                etag: etag.clone().unwrap_or_default(),
            };
            let response = client
                .set_lease(session.request(SetLeaseRequest {
                    lease: Some(lease),
                    request_id: request_id(),
                    validate_only: mutate.validate_only,
                }))
                .await?
                .into_inner();
            let view = MutationView {
                action: "set",
                name,
                revision: response.revision,
                validate_only: mutate.validate_only,
                resource: response
                    .lease
                    .as_ref()
                    .map(|l| ResourceView::Lease(l.into())),
            };
            after_mutation(session, out, format, &view, *mutate).await
        }
        LeaseCommand::Delete {
            operator,
            etag,
            mutate,
        } => {
            let name = lease_name(&parse_operator(operator)?);
            let mut client = session.operators().await?;
            let response = client
                .delete_lease(session.request(DeleteLeaseRequest {
                    name: name.clone(),
                    etag: etag.clone().unwrap_or_default(),
                    request_id: request_id(),
                    validate_only: mutate.validate_only,
                }))
                .await?
                .into_inner();
            let view = deleted(name, response.revision, *mutate);
            after_mutation(session, out, format, &view, *mutate).await
        }
    }
}

pub fn deleted(name: String, revision: u64, mutate: MutateArgs) -> MutationView {
    MutationView {
        action: "deleted",
        name,
        revision,
        validate_only: mutate.validate_only,
        resource: None,
    }
}

/// An answer without the resource it must carry: the controller is broken
/// or speaks another version of the API.
pub fn missing(what: &str) -> OnlineError {
    OnlineError::Unavailable(format!("the controller answered without {what}"))
}
