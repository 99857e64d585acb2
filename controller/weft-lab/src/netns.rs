//! Network namespaces the lab (or a test) made and owns.

use crate::cmd::{LabError, Result, run};

/// A named network namespace (`ip netns add`), deleted when dropped unless
/// [`Netns::keep`] was called.
#[derive(Debug)]
pub struct Netns {
    name: String,
    keep: bool,
}

/// Namespace names are file names under `/run/netns`; keep them short and
/// plain so they can be typed.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(LabError::Setup(format!("bad namespace name {name:?}")))
    }
}

impl Netns {
    /// Creates the namespace and brings its loopback up. Fails if it exists:
    /// a namespace is never adopted by accident.
    pub fn create(name: &str) -> Result<Netns> {
        check_name(name)?;
        run("ip", &["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
            keep: false,
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Takes charge of an existing namespace (to delete it).
    pub fn adopt(name: &str) -> Result<Netns> {
        check_name(name)?;
        Ok(Netns {
            name: name.to_string(),
            keep: false,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, argv: &[&str]) -> Result<String> {
        let mut args = vec!["netns", "exec", self.name.as_str()];
        args.extend_from_slice(argv);
        run("ip", &args)
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Leaves the namespace in place when dropped.
    pub fn keep(mut self) -> String {
        self.keep = true;
        std::mem::take(&mut self.name)
    }

    /// Deletes the namespace now.
    pub fn delete(mut self) -> Result<()> {
        self.keep = true;
        delete(&self.name)
    }
}

/// Deletes a namespace by name; a missing one is not an error.
pub fn delete(name: &str) -> Result<()> {
    if !exists(name) {
        return Ok(());
    }
    run("ip", &["netns", "delete", name]).map(|_| ())
}

/// True when `/run/netns/NAME` exists.
pub fn exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Every namespace whose name starts with `prefix`.
pub fn list_prefixed(prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.keep
            && let Err(e) = delete(&self.name)
        {
            tracing::warn!(netns = %self.name, error = %e, "cannot delete namespace");
        }
    }
}
