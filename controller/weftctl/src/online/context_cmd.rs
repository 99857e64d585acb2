//! `weftctl context set|use|list|show|import`: edit and inspect the
//! contexts file. No controller is contacted.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::ConnArgs;
use super::context::{self, Context, ContextFile, Resolved};
use super::error::OnlineError;
use super::render::{self, Format, fields};
use crate::exit::Outcome;
use crate::out::Out;
use crate::table::{Align, Table};

/// Where `context import` points a context when no endpoint is given:
/// weftd's usual address on the machine that ran `weftd init`.
const DEFAULT_ENDPOINT: &str = "https://127.0.0.1:50051";

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Create or change a context. Paths are stored absolute; the first
    /// context becomes the current one.
    Set {
        name: String,
        /// Controller endpoint, e.g. https://127.0.0.1:50051 (required for a new context).
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
        /// CA certificate (PEM).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Client certificate (PEM).
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
        /// Client private key (PEM).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Name the controller's certificate must carry (default localhost).
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
    },
    /// Make a context the current one.
    Use { name: String },
    /// List contexts; `*` marks the current one.
    List,
    /// Show the settings a command would use, and where each comes from.
    Show {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Create a context from a weft-pki directory (DIR/ca.pem,
    /// DIR/ROLE/NAME.pem and .key), named ROLE, or ROLE-NAME when they differ.
    Import {
        /// The PKI directory (DATA_DIR/pki, or DATA_DIR itself).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, value_enum)]
        role: Role,
        /// The principal's name (default: the role's name, e.g. admin).
        #[arg(long)]
        name: Option<String>,
        /// Name of the context to create (default: ROLE or ROLE-NAME).
        #[arg(long, value_name = "CONTEXT")]
        context_name: Option<String>,
        /// Controller endpoint.
        #[arg(long, value_name = "URL", default_value = DEFAULT_ENDPOINT)]
        endpoint: String,
        /// Name the controller's certificate must carry (default localhost).
        #[arg(long, value_name = "NAME")]
        server_name: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    Admin,
    Operator,
    Auditor,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
        }
    }
}

/// The context a PKI principal gets: `admin`, `operator-alpha`.
pub fn import_context_name(role: Role, name: &str) -> String {
    if name == role.as_str() {
        name.to_owned()
    } else {
        format!("{}-{name}", role.as_str())
    }
}

/// The credential paths of a principal in a weft-pki directory; `dir` may
/// be the PKI directory or the data directory holding it as `pki/`.
pub fn pki_paths(dir: &Path, role: Role, name: &str) -> Result<Context, OnlineError> {
    let pki = if !dir.join("ca.pem").exists() && dir.join("pki").join("ca.pem").exists() {
        dir.join("pki")
    } else {
        dir.to_owned()
    };
    let sub = pki.join(role.as_str());
    let ctx = Context {
        endpoint: String::new(),
        ca: Some(pki.join("ca.pem")),
        cert: Some(sub.join(format!("{name}.pem"))),
        key: Some(sub.join(format!("{name}.key"))),
        server_name: None,
    };
    let missing: Vec<String> = [&ctx.ca, &ctx.cert, &ctx.key]
        .into_iter()
        .flatten()
        .filter(|p| !p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(OnlineError::Config(format!(
            "no {} {name:?} in {}: missing {}",
            role.as_str(),
            pki.display(),
            missing.join(", ")
        )));
    }
    Ok(ctx)
}

fn absolute(path: &Path) -> Result<PathBuf, OnlineError> {
    std::path::absolute(path)
        .map_err(|e| OnlineError::Config(format!("cannot resolve {}: {e}", path.display())))
}

pub fn run(
    command: &ContextCommand,
    format: Format,
    out: &mut Out,
) -> Result<Outcome, OnlineError> {
    if let ContextCommand::Show { conn } = command {
        let (path, resolved) = conn.resolved()?;
        let view = ShowView::new(&path, &resolved);
        render::emit(out, format, &view, show_table)?;
        return Ok(Outcome::Ok);
    }
    let path = context::config_path(|k| std::env::var_os(k))?;
    let mut file = ContextFile::load(&path)?;
    let message = match command {
        ContextCommand::Set {
            name,
            endpoint,
            ca,
            cert,
            key,
            server_name,
        } => {
            let mut ctx = match (file.contexts.get(name), endpoint) {
                (Some(existing), _) => existing.clone(),
                (None, Some(_)) => Context::default(),
                (None, None) => {
                    return Err(OnlineError::Config(format!(
                        "context {name:?} is new: give its --endpoint"
                    )));
                }
            };
            if let Some(e) = endpoint {
                ctx.endpoint.clone_from(e);
            }
            for (slot, value) in [
                (&mut ctx.ca, ca),
                (&mut ctx.cert, cert),
                (&mut ctx.key, key),
            ] {
                if let Some(p) = value {
                    *slot = Some(absolute(p)?);
                }
            }
            if let Some(s) = server_name {
                ctx.server_name = Some(s.clone());
            }
            save_context(&mut file, &path, name, ctx)?
        }
        ContextCommand::Import {
            dir,
            role,
            name,
            context_name,
            endpoint,
            server_name,
        } => {
            let principal = name.clone().unwrap_or_else(|| role.as_str().to_owned());
            let mut ctx = pki_paths(&absolute(dir)?, *role, &principal)?;
            ctx.endpoint.clone_from(endpoint);
            ctx.server_name.clone_from(server_name);
            let context_name = context_name
                .clone()
                .unwrap_or_else(|| import_context_name(*role, &principal));
            save_context(&mut file, &path, &context_name, ctx)?
        }
        ContextCommand::Use { name } => {
            context::lookup(&file, name)?;
            file.current = Some(name.clone());
            file.save(&path)?;
            format!("now using context {name:?}")
        }
        ContextCommand::List => {
            let view: Vec<ListItem> = file
                .contexts
                .iter()
                .map(|(name, c)| ListItem {
                    name: name.clone(),
                    current: file.current.as_deref() == Some(name.as_str()),
                    context: c.clone(),
                })
                .collect();
            render::emit(out, format, &view, |v| list_table(v))?;
            return Ok(Outcome::Ok);
        }
        ContextCommand::Show { .. } => return Ok(Outcome::Ok),
    };
    out.line(&message)?;
    Ok(Outcome::Ok)
}

fn save_context(
    file: &mut ContextFile,
    path: &Path,
    name: &str,
    ctx: Context,
) -> Result<String, OnlineError> {
    let mut message = format!(
        "context {name:?} ({}) saved in {}",
        ctx.endpoint,
        path.display()
    );
    file.contexts.insert(name.to_owned(), ctx);
    if file.current.is_none() {
        file.current = Some(name.to_owned());
        message.push_str("; it is the current context");
    }
    file.save(path)?;
    Ok(message)
}

#[derive(Debug, Serialize)]
struct ListItem {
    name: String,
    current: bool,
    #[serde(flatten)]
    context: Context,
}

fn list_table(items: &[ListItem]) -> String {
    let mut t = Table::new(&[
        ("CURRENT", Align::Left),
        ("NAME", Align::Left),
        ("ENDPOINT", Align::Left),
        ("CERT", Align::Left),
    ]);
    for i in items {
        t.row(vec![
            if i.current { "*" } else { "" }.to_owned(),
            i.name.clone(),
            i.context.endpoint.clone(),
            i.context
                .cert
                .as_ref()
                .map_or_else(|| "-".to_owned(), |p| p.display().to_string()),
        ]);
    }
    t.render()
}

/// A setting and where it came from.
#[derive(Debug, Serialize)]
struct Shown {
    value: String,
    source: String,
}

#[derive(Debug, Serialize)]
struct ShowView {
    config: String,
    endpoint: Option<Shown>,
    ca: Option<Shown>,
    cert: Option<Shown>,
    key: Option<Shown>,
    server_name: Option<Shown>,
}

impl ShowView {
    fn new(path: &Path, r: &Resolved) -> Self {
        let text = |v: &Option<(String, String)>| {
            v.as_ref().map(|(value, source)| Shown {
                value: value.clone(),
                source: source.clone(),
            })
        };
        let path_of = |v: &Option<(PathBuf, String)>| {
            v.as_ref().map(|(value, source)| Shown {
                value: value.display().to_string(),
                source: source.clone(),
            })
        };
        ShowView {
            config: path.display().to_string(),
            endpoint: text(&r.endpoint),
            ca: path_of(&r.ca),
            cert: path_of(&r.cert),
            key: path_of(&r.key),
            server_name: text(&r.server_name),
        }
    }
}

fn show_table(v: &ShowView) -> String {
    let line = |s: &Option<Shown>| match s {
        Some(s) => format!("{}  ({})", s.value, s.source),
        None => "-".to_owned(),
    };
    fields(&[
        ("contexts file", v.config.clone()),
        ("endpoint", line(&v.endpoint)),
        ("ca", line(&v.ca)),
        ("cert", line(&v.cert)),
        ("key", line(&v.key)),
        ("server name", line(&v.server_name)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_names_contexts_after_the_principal() {
        assert_eq!(import_context_name(Role::Admin, "admin"), "admin");
        assert_eq!(
            import_context_name(Role::Operator, "alpha"),
            "operator-alpha"
        );
        assert_eq!(import_context_name(Role::Auditor, "auditor"), "auditor");
        assert_eq!(import_context_name(Role::Admin, "ops"), "admin-ops");
    }

    #[test]
    fn import_finds_the_pki_directory_and_names_missing_files() {
        let data = std::env::temp_dir().join(format!("weftctl-pki-{}", std::process::id()));
        let pki = data.join("pki");
        std::fs::create_dir_all(pki.join("operator")).unwrap();
        for f in ["ca.pem", "operator/alpha.pem", "operator/alpha.key"] {
            std::fs::write(pki.join(f), "x").unwrap();
        }
        // Given the data directory, the pki/ inside it is used.
        let ctx = pki_paths(&data, Role::Operator, "alpha").unwrap();
        assert_eq!(ctx.cert.unwrap(), pki.join("operator/alpha.pem"));
        assert_eq!(ctx.ca.unwrap(), pki.join("ca.pem"));
        let err = pki_paths(&pki, Role::Admin, "admin").unwrap_err();
        assert_eq!(err.outcome().code(), 2);
        assert!(err.to_string().contains("admin/admin.pem"), "{err}");
        let _ = std::fs::remove_dir_all(&data);
    }
}
