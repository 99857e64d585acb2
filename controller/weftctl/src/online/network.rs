//! `weftctl network …`, `weftctl attach`, `weftctl detach`: NetworkService.

use clap::{Args, Subcommand};
use weft_proto::v1::{
    Attachment, AttachmentMode, CreateAttachmentRequest, CreateNetworkRequest,
    DeleteAttachmentRequest, DeleteNetworkRequest, GetNetworkRequest, GetNetworkStatusRequest,
    ListAttachmentsRequest, ListNetworksRequest, Network,
};

use super::client::{Session, request_id};
use super::error::OnlineError;
use super::names::{attachment_name, operator_name, parse_network, parse_operator, parse_port};
use super::operator::{PAGE_SIZE, deleted, missing};
use super::render::{self, Format};
use super::views::{
    AttachmentView, MutationView, NetworkDetailView, NetworkStatusView, NetworkView, ResourceView,
};
use super::{ConnArgs, MutateArgs, OutputArgs, after_mutation, plan_change};
use crate::exit::Outcome;
use crate::out::Out;
use weft_proto::v1::planned_change::Change as Planned;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a network in an operator's slice.
    Create {
        /// OPERATOR/NETWORK, e.g. alpha/web.
        network: String,
        /// The network's VNI, within the lease (default: the lowest free one).
        #[arg(long)]
        vni: Option<u32>,
        /// The fabric VLAN carrying it on trunks (vlan fabrics; default: allocated).
        #[arg(long)]
        fabric_vlan: Option<u32>,
        #[command(flatten)]
        mutate: MutateArgs,
    },
    /// Show a network and its attachments.
    Get {
        /// OPERATOR/NETWORK.
        network: String,
    },
    /// List an operator's networks.
    List {
        /// Operator ID or operators/ID.
        operator: String,
    },
    /// Delete a network with its attachments.
    Delete {
        /// OPERATOR/NETWORK.
        network: String,
        /// Only if the network is unchanged since it was read with this etag.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        mutate: MutateArgs,
    },
    /// How far the switches have programmed a network, and its counters.
    Status {
        /// OPERATOR/NETWORK.
        network: String,
    },
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// OPERATOR/NETWORK, e.g. alpha/web.
    network: String,
    /// A leased server port, SWITCH/PORT, e.g. rack1-leaf/eth1.
    port: String,
    /// Carry the network tagged with this VLAN (the operator's own tag);
    /// without it the port is an access port (untagged frames only).
    #[arg(long, value_name = "VLAN", value_parser = clap::value_parser!(u32).range(1..=4094))]
    tag: Option<u32>,
    #[command(flatten)]
    mutate: MutateArgs,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct DetachArgs {
    /// OPERATOR/NETWORK.
    network: String,
    /// SWITCH/PORT.
    port: String,
    /// Only if the attachment is unchanged since it was read with this etag.
    #[arg(long)]
    etag: Option<String>,
    #[command(flatten)]
    mutate: MutateArgs,
    #[command(flatten)]
    conn: ConnArgs,
    #[command(flatten)]
    output: OutputArgs,
}

pub async fn run(
    command: &NetworkCommand,
    session: &mut Session,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    match command {
        NetworkCommand::Create {
            network,
            vni,
            fabric_vlan,
            mutate,
        } => {
            let net = parse_network(network)?;
            let request = CreateNetworkRequest {
                parent: net.parent(),
                network_id: net.network.clone(),
                network: Some(Network {
                    vni: vni.unwrap_or(0),
                    fabric_vlan: fabric_vlan.unwrap_or(0),
                    ..Network::default()
                }),
                request_id: request_id(),
                validate_only: mutate.validate_only,
            };
            if mutate.plan {
                return plan_change(session, out, format, Planned::CreateNetwork(request)).await;
            }
            let mut client = session.networks().await?;
            let response = client
                .create_network(session.request(request))
                .await?
                .into_inner();
            let view = MutationView {
                action: "created",
                name: net.name(),
                revision: response.revision,
                validate_only: mutate.validate_only,
                resource: response
                    .network
                    .as_ref()
                    .map(|n| ResourceView::Network(n.into())),
            };
            after_mutation(session, out, format, &view, *mutate).await
        }
        NetworkCommand::Get { network } => {
            let net = parse_network(network)?;
            let mut client = session.networks().await?;
            let response = client
                .get_network(session.request(GetNetworkRequest { name: net.name() }))
                .await?
                .into_inner();
            let Some(network) = response.network else {
                return Err(missing("a network"));
            };
            let mut attachments = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_attachments(session.request(ListAttachmentsRequest {
                        parent: net.name(),
                        page_size: PAGE_SIZE,
                        page_token,
                    }))
                    .await?
                    .into_inner();
                attachments.extend(page.attachments.iter().map(AttachmentView::from));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            let view = NetworkDetailView {
                network: NetworkView::from(&network),
                attachments,
            };
            render::emit(out, format, &view, render::network_detail)?;
            Ok(Outcome::Ok)
        }
        NetworkCommand::List { operator } => {
            let parent = operator_name(&parse_operator(operator)?);
            let mut client = session.networks().await?;
            let mut all = Vec::new();
            let mut page_token = String::new();
            loop {
                let page = client
                    .list_networks(session.request(ListNetworksRequest {
                        parent: parent.clone(),
                        page_size: PAGE_SIZE,
                        page_token,
                    }))
                    .await?
                    .into_inner();
                all.extend(page.networks.iter().map(NetworkView::from));
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            render::emit(out, format, &all, |nets| render::networks(nets))?;
            Ok(Outcome::Ok)
        }
        NetworkCommand::Delete {
            network,
            etag,
            mutate,
        } => {
            let name = parse_network(network)?.name();
            let request = DeleteNetworkRequest {
                name: name.clone(),
                etag: etag.clone().unwrap_or_default(),
                request_id: request_id(),
                validate_only: mutate.validate_only,
            };
            if mutate.plan {
                return plan_change(session, out, format, Planned::DeleteNetwork(request)).await;
            }
            let mut client = session.networks().await?;
            let response = client
                .delete_network(session.request(request))
                .await?
                .into_inner();
            let view = deleted(name, response.revision, *mutate);
            after_mutation(session, out, format, &view, *mutate).await
        }
        NetworkCommand::Status { network } => {
            let name = parse_network(network)?.name();
            let mut client = session.networks().await?;
            let response = client
                .get_network_status(session.request(GetNetworkStatusRequest { name }))
                .await?
                .into_inner();
            let view = NetworkStatusView::from(&response);
            render::emit(out, format, &view, render::network_status)?;
            Ok(Outcome::Ok)
        }
    }
}

pub async fn attach(args: &AttachArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let net = parse_network(&args.network)?;
    let port = parse_port(&args.port)?;
    let mut session = args.conn.session()?;
    let (mode, vlan_id) = match args.tag {
        Some(vlan) => (AttachmentMode::Tagged, vlan),
        None => (AttachmentMode::Access, 0),
    };
    let request = CreateAttachmentRequest {
        parent: net.name(),
        attachment: Some(Attachment {
            port: port.wire(),
            mode: mode.into(),
            vlan_id,
            ..Attachment::default()
        }),
        request_id: request_id(),
        validate_only: args.mutate.validate_only,
    };
    if args.mutate.plan {
        let format = args.output.output;
        return plan_change(
            &mut session,
            out,
            format,
            Planned::CreateAttachment(request),
        )
        .await;
    }
    let request = session.request(request);
    let response = session
        .networks()
        .await?
        .create_attachment(request)
        .await?
        .into_inner();
    let view = MutationView {
        action: "attached",
        name: attachment_name(&net, &port),
        revision: response.revision,
        validate_only: args.mutate.validate_only,
        resource: response
            .attachment
            .as_ref()
            .map(|a| ResourceView::Attachment(a.into())),
    };
    after_mutation(&mut session, out, args.output.output, &view, args.mutate).await
}

pub async fn detach(args: &DetachArgs, out: &mut Out) -> Result<Outcome, OnlineError> {
    let net = parse_network(&args.network)?;
    let port = parse_port(&args.port)?;
    let name = attachment_name(&net, &port);
    let mut session = args.conn.session()?;
    let request = DeleteAttachmentRequest {
        name: name.clone(),
        etag: args.etag.clone().unwrap_or_default(),
        request_id: request_id(),
        validate_only: args.mutate.validate_only,
    };
    if args.mutate.plan {
        let format = args.output.output;
        return plan_change(
            &mut session,
            out,
            format,
            Planned::DeleteAttachment(request),
        )
        .await;
    }
    let request = session.request(request);
    let response = session
        .networks()
        .await?
        .delete_attachment(request)
        .await?
        .into_inner();
    let mut view = deleted(name, response.revision, args.mutate);
    view.action = "detached";
    after_mutation(&mut session, out, args.output.output, &view, args.mutate).await
}
