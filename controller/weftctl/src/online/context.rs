//! Contexts: named sets of connection settings (endpoint, CA, client
//! certificate and key), kept in one JSON file, and the rule that decides
//! which setting a command uses.
//!
//! Each setting is taken from the first of these that has it:
//! command-line flags, the context named by `--context`, the environment
//! (`WEFT_ENDPOINT`, `WEFT_CA`, `WEFT_CERT`, `WEFT_KEY`, `WEFT_SERVER_NAME`),
//! the current context. The file holds paths only, never key material.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::client::{DEFAULT_SERVER_NAME, Target, TlsFiles};
use super::error::OnlineError;
use crate::json;

/// One context as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    pub endpoint: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// The name the server certificate must carry, when it differs from the
    /// endpoint's host (default `localhost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// The contexts file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// `$WEFT_CONFIG`, else `$XDG_CONFIG_HOME/weft/contexts.json`, else
/// `$HOME/.config/weft/contexts.json`. `env` is `std::env::var_os` outside
/// tests.
pub fn config_path(env: impl Fn(&str) -> Option<OsString>) -> Result<PathBuf, OnlineError> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = set("WEFT_CONFIG") {
        return Ok(PathBuf::from(path));
    }
    let base = match (set("XDG_CONFIG_HOME"), set("HOME")) {
        (Some(xdg), _) => PathBuf::from(xdg),
        (None, Some(home)) => PathBuf::from(home).join(".config"),
        (None, None) => {
            return Err(OnlineError::Config(
                "cannot locate the contexts file: set WEFT_CONFIG, XDG_CONFIG_HOME or HOME".into(),
            ));
        }
    };
    Ok(base.join("weft").join("contexts.json"))
}

impl ContextFile {
    /// A missing file is an empty one: nothing has been configured yet.
    pub fn load(path: &Path) -> Result<ContextFile, OnlineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ContextFile::default()),
            Err(e) => {
                return Err(OnlineError::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        serde_json::from_str(&text).map_err(|e| {
            OnlineError::Config(format!("{} is not a contexts file: {e}", path.display()))
        })
    }

    /// Written whole to a temporary file and renamed, so a crash leaves the
    /// old file or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), OnlineError> {
        let fail = |action: &str, e: io::Error| {
            OnlineError::Config(format!("cannot {action} {}: {e}", path.display()))
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
        }
        let text = json::to_canonical(self)
            .map_err(|e| OnlineError::Config(format!("cannot encode the contexts: {e}")))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, text).map_err(|e| fail("write", e))?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            fail("replace", e)
        })
    }
}

/// Settings from one source; `None` where that source is silent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub server_name: Option<String>,
}

impl Settings {
    pub fn from_env(env: impl Fn(&str) -> Option<OsString>) -> Settings {
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        Settings {
            endpoint: text("WEFT_ENDPOINT"),
            ca: var("WEFT_CA").map(PathBuf::from),
            cert: var("WEFT_CERT").map(PathBuf::from),
            key: var("WEFT_KEY").map(PathBuf::from),
            server_name: text("WEFT_SERVER_NAME"),
        }
    }

    fn from_context(c: &Context) -> Settings {
        Settings {
            endpoint: Some(c.endpoint.clone()),
            ca: c.ca.clone(),
            cert: c.cert.clone(),
            key: c.key.clone(),
            server_name: c.server_name.clone(),
        }
    }
}

/// A source of settings, with the words that say where a value came from.
#[derive(Debug, Clone)]
pub struct Layer {
    pub source: String,
    pub settings: Settings,
}

/// The layers in precedence order (see the module doc).
pub fn layers(
    flags: Settings,
    named: Option<&str>,
    file: &ContextFile,
    env: Settings,
) -> Result<Vec<Layer>, OnlineError> {
    let mut layers = vec![Layer {
        source: "flag".into(),
        settings: flags,
    }];
    if let Some(name) = named {
        let ctx = lookup(file, name)?;
        layers.push(Layer {
            source: format!("context {name}"),
            settings: Settings::from_context(ctx),
        });
    }
    layers.push(Layer {
        source: "environment".into(),
        settings: env,
    });
    if let (None, Some(current)) = (named, &file.current) {
        let ctx = lookup(file, current)?;
        layers.push(Layer {
            source: format!("current context {current}"),
            settings: Settings::from_context(ctx),
        });
    }
    Ok(layers)
}

pub fn lookup<'a>(file: &'a ContextFile, name: &str) -> Result<&'a Context, OnlineError> {
    file.contexts.get(name).ok_or_else(|| {
        OnlineError::Config(format!(
            "no context named {name:?}; see `weftctl context list`"
        ))
    })
}

/// Each setting with where it came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    pub endpoint: Option<(String, String)>,
    pub ca: Option<(PathBuf, String)>,
    pub cert: Option<(PathBuf, String)>,
    pub key: Option<(PathBuf, String)>,
    pub server_name: Option<(String, String)>,
}

/// Per setting, the first layer that has it.
pub fn resolve(layers: &[Layer]) -> Resolved {
    fn first<T: Clone>(
        layers: &[Layer],
        get: impl Fn(&Settings) -> &Option<T>,
    ) -> Option<(T, String)> {
        layers
            .iter()
            .find_map(|l| get(&l.settings).clone().map(|v| (v, l.source.clone())))
    }
    Resolved {
        endpoint: first(layers, |s| &s.endpoint),
        ca: first(layers, |s| &s.ca),
        cert: first(layers, |s| &s.cert),
        key: first(layers, |s| &s.key),
        server_name: first(layers, |s| &s.server_name),
    }
}

impl Resolved {
    /// What to connect to. `https://` needs all three files; `http://`
    /// (plain text, for tests against a local server) ignores them.
    pub fn target(&self) -> Result<Target, OnlineError> {
        let Some((endpoint, _)) = &self.endpoint else {
            return Err(OnlineError::Config(
                "no controller endpoint: pass --endpoint URL, set WEFT_ENDPOINT, or create a \
                 context with `weftctl context set` or `weftctl context import`"
                    .into(),
            ));
        };
        if endpoint.starts_with("http://") {
            return Ok(Target {
                endpoint: endpoint.clone(),
                tls: None,
            });
        }
        if !endpoint.starts_with("https://") {
            return Err(OnlineError::Config(format!(
                "endpoint {endpoint:?} must start with https:// (or http:// for a plain-text test server)"
            )));
        }
        let need = |v: &Option<(PathBuf, String)>, flag: &str, var: &str| {
            v.as_ref().map(|(p, _)| p.clone()).ok_or_else(|| {
                OnlineError::Config(format!(
                    "{endpoint} needs mutual TLS but no {flag} is configured: pass --{flag} FILE, \
                     set {var}, or use a context that has one"
                ))
            })
        };
        Ok(Target {
            endpoint: endpoint.clone(),
            tls: Some(TlsFiles {
                ca: need(&self.ca, "ca", "WEFT_CA")?,
                cert: need(&self.cert, "cert", "WEFT_CERT")?,
                key: need(&self.key, "key", "WEFT_KEY")?,
                server_name: self
                    .server_name
                    .as_ref()
                    .map_or_else(|| DEFAULT_SERVER_NAME.to_owned(), |(s, _)| s.clone()),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(endpoint: &str, cert: &str) -> Context {
        Context {
            endpoint: endpoint.into(),
            ca: Some("/pki/ca.pem".into()),
            cert: Some(cert.into()),
            key: Some(cert.replace(".pem", ".key").into()),
            server_name: None,
        }
    }

    fn file() -> ContextFile {
        ContextFile {
            current: Some("admin".into()),
            contexts: BTreeMap::from([
                ("admin".into(), ctx("https://a:1", "/pki/admin/admin.pem")),
                (
                    "operator-alpha".into(),
                    ctx("https://b:2", "/pki/operator/alpha.pem"),
                ),
            ]),
        }
    }

    fn resolved(flags: Settings, named: Option<&str>, env: Settings) -> Resolved {
        resolve(&layers(flags, named, &file(), env).unwrap())
    }

    #[test]
    fn the_current_context_is_the_fallback() {
        let r = resolved(Settings::default(), None, Settings::default());
        assert_eq!(
            r.endpoint,
            Some(("https://a:1".into(), "current context admin".into()))
        );
        let t = r.target().unwrap();
        let tls = t.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/pki/admin/admin.pem"));
        assert_eq!(tls.server_name, "localhost");
    }

    #[test]
    fn environment_beats_current_context_but_not_a_named_one() {
        let env = Settings {
            endpoint: Some("https://env:3".into()),
            cert: Some("/env.pem".into()),
            ..Settings::default()
        };
        let r = resolved(Settings::default(), None, env.clone());
        assert_eq!(r.endpoint.unwrap().0, "https://env:3");
        assert_eq!(r.cert.unwrap().0, PathBuf::from("/env.pem"));
        // The key still comes from the current context: per setting.
        assert_eq!(r.key.unwrap().1, "current context admin");

        let r = resolved(Settings::default(), Some("operator-alpha"), env);
        assert_eq!(
            r.endpoint.unwrap(),
            ("https://b:2".into(), "context operator-alpha".into())
        );
        assert_eq!(r.cert.unwrap().0, PathBuf::from("/pki/operator/alpha.pem"));
    }

    #[test]
    fn flags_beat_everything() {
        let flags = Settings {
            endpoint: Some("https://flag:4".into()),
            server_name: Some("weftd.example".into()),
            ..Settings::default()
        };
        let env = Settings {
            endpoint: Some("https://env:3".into()),
            ..Settings::default()
        };
        let r = resolved(flags, Some("operator-alpha"), env);
        assert_eq!(
            r.endpoint.unwrap(),
            ("https://flag:4".into(), "flag".into())
        );
        assert_eq!(r.cert.unwrap().1, "context operator-alpha");
        let r = resolved(
            Settings {
                server_name: Some("weftd.example".into()),
                ..Settings::default()
            },
            None,
            Settings::default(),
        );
        assert_eq!(
            r.target().unwrap().tls.unwrap().server_name,
            "weftd.example"
        );
    }

    #[test]
    fn missing_pieces_are_configuration_errors() {
        let err = layers(
            Settings::default(),
            Some("nope"),
            &file(),
            Settings::default(),
        )
        .unwrap_err();
        assert_eq!(err.outcome().code(), 2);
        let none = resolve(
            &layers(
                Settings::default(),
                None,
                &ContextFile::default(),
                Settings::default(),
            )
            .unwrap(),
        );
        assert!(
            none.target()
                .unwrap_err()
                .to_string()
                .contains("no controller endpoint")
        );
        let only_endpoint = Resolved {
            endpoint: Some(("https://x:1".into(), "flag".into())),
            ..Resolved::default()
        };
        let err = only_endpoint.target().unwrap_err();
        assert!(err.to_string().contains("no ca"), "{err}");
        let plain = Resolved {
            endpoint: Some(("http://127.0.0.1:1".into(), "flag".into())),
            ..Resolved::default()
        };
        assert!(plain.target().unwrap().tls.is_none());
        let bad = Resolved {
            endpoint: Some(("127.0.0.1:1".into(), "flag".into())),
            ..Resolved::default()
        };
        assert!(bad.target().is_err());
    }

    #[test]
    fn config_path_precedence() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let all = env(&[
            ("WEFT_CONFIG", "/c.json"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(config_path(all).unwrap(), PathBuf::from("/c.json"));
        let xdg = env(&[
            ("WEFT_CONFIG", ""),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            config_path(xdg).unwrap(),
            PathBuf::from("/x/weft/contexts.json")
        );
        let home = env(&[("HOME", "/h")]);
        assert_eq!(
            config_path(home).unwrap(),
            PathBuf::from("/h/.config/weft/contexts.json")
        );
        assert!(config_path(env(&[])).is_err());
    }

    #[test]
    fn the_file_round_trips_and_rejects_unknown_fields() {
        let dir = std::env::temp_dir().join(format!("weftctl-ctx-{}", std::process::id()));
        let path = dir.join("sub/contexts.json");
        assert_eq!(ContextFile::load(&path).unwrap(), ContextFile::default());
        file().save(&path).unwrap();
        assert_eq!(ContextFile::load(&path).unwrap(), file());
        std::fs::write(&path, r#"{"contexts": {}, "colour": "blue"}"#).unwrap();
        assert_eq!(ContextFile::load(&path).unwrap_err().outcome().code(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
