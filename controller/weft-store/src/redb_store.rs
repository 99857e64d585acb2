//! [`RedbStore`]: the production [`Store`], one redb file in the controller's state dir.
//!
//! Every write is one redb write transaction with redb's default `Immediate`
//! durability, so it is on disk when the call returns, and a transaction that returns
//! early with an error is dropped, which aborts it: a rejected commit writes nothing.

use std::fs;
use std::path::{Path, PathBuf};

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, TableDefinition,
};

use crate::{
    Commit, EventsSince, Store, StoreError, StoreOptions, StoredState, check_audit_seq, compacted,
};

/// Name of the database file inside the state directory.
pub const STORE_FILE_NAME: &str = "weft.redb";

/// Layout version written in the `system` table. Bump it when a table's key or value
/// type, or the meaning of a stored value, changes.
pub const SCHEMA_VERSION: u64 = 1;

// The `system` table's name and types are frozen across schema versions: it is what an
// older build reads to learn that it must not touch a newer file.
const SYSTEM: TableDefinition<&str, u64> = TableDefinition::new("system");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const RESOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("resources");
/// (revision, index within the commit) -> event.
const EVENTS: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("events");
/// request key -> (insertion seq, response record).
const REQUESTS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("requests");
/// insertion seq -> request key: the eviction order of `REQUESTS`.
const REQUEST_ORDER: TableDefinition<u64, &str> = TableDefinition::new("request_order");
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

const KEY_SCHEMA_VERSION: &str = "schema_version";
const KEY_REVISION: &str = "revision";
const KEY_EPOCH: &str = "epoch";
/// Highest revision whose events retention may have dropped. Persisted rather than
/// derived, so that reopening with a larger retention does not claim lost events exist.
const KEY_EVENTS_DROPPED_THROUGH: &str = "events_dropped_through";
const KEY_NEXT_REQUEST_SEQ: &str = "next_request_seq";

/// The controller's embedded, crash-safe store (see the crate docs).
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    options: StoreOptions,
}

impl RedbStore {
    /// Opens (creating if missing) `dir/weft.redb` with default [`StoreOptions`].
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::with_options(dir, StoreOptions::default())
    }

    /// Opens (creating if missing) `dir/weft.redb`.
    ///
    /// Fails with [`StoreError::Locked`] if another process has it open,
    /// [`StoreError::Corrupt`] if it is damaged or not a store, and
    /// [`StoreError::UnsupportedSchema`] if a newer build wrote it.
    pub fn with_options(dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            location: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(STORE_FILE_NAME);
        // A plain open trusts the file and may panic on damage; checking every page's
        // checksum turns that into a typed error. The store is opened once per
        // controller start, so reading it whole is an acceptable price.
        let db = Database::builder()
            .set_check_integrity_on_open(true)
            .create(&path)
            .at(&path)?;
        let store = Self { db, path, options };
        store.init_schema()?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The retention this store was opened with.
    pub fn options(&self) -> StoreOptions {
        self.options
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    /// Checks the schema version, stamps a new file, and creates every table so that
    /// reads never meet a missing one.
    fn init_schema(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        {
            let mut system = txn.open_table(SYSTEM).at(&self.path)?;
            let found = system
                .get(KEY_SCHEMA_VERSION)
                .at(&self.path)?
                .map(|v| v.value());
            match found {
                None if system.is_empty().at(&self.path)? => {
                    system
                        .insert(KEY_SCHEMA_VERSION, SCHEMA_VERSION)
                        .at(&self.path)?;
                }
                None | Some(0) => {
                    return Err(StoreError::Corrupt(format!(
                        "store {} has no valid schema version; move it aside and restore a backup",
                        self.location()
                    )));
                }
                Some(found) if found > SCHEMA_VERSION => {
                    return Err(StoreError::UnsupportedSchema {
                        location: self.location(),
                        found,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(_) => {}
            }
        }
        txn.open_table(META).at(&self.path)?;
        txn.open_table(RESOURCES).at(&self.path)?;
        txn.open_table(EVENTS).at(&self.path)?;
        txn.open_table(REQUESTS).at(&self.path)?;
        txn.open_table(REQUEST_ORDER).at(&self.path)?;
        txn.open_table(AUDIT).at(&self.path)?;
        txn.commit().at(&self.path)
    }

    fn corrupt(&self, what: &str) -> StoreError {
        StoreError::Corrupt(format!(
            "store {}: {what}; move it aside and restore a backup",
            self.location()
        ))
    }

    fn increment(&self, value: u64, what: &str) -> Result<u64, StoreError> {
        value
            .checked_add(1)
            .ok_or_else(|| self.corrupt(&format!("{what} counter is exhausted")))
    }

    /// Drops events of revisions retention no longer covers, once the store is at
    /// `revision`.
    fn prune_events(
        &self,
        system: &mut Table<&str, u64>,
        events: &mut Table<(u64, u64), &[u8]>,
        revision: u64,
    ) -> Result<(), StoreError> {
        let stored = read_u64(system, KEY_EVENTS_DROPPED_THROUGH, &self.path)?;
        let through = stored.max(self.options.events_dropped_through(revision));
        if through == stored {
            return Ok(());
        }
        system
            .insert(KEY_EVENTS_DROPPED_THROUGH, through)
            .at(&self.path)?;
        loop {
            let next_is_old = match events.first().at(&self.path)? {
                Some((key, _)) => key.value().0 <= through,
                None => false,
            };
            if !next_is_old {
                return Ok(());
            }
            events.pop_first().at(&self.path)?;
        }
    }

    /// Stores an idempotency record and evicts the oldest beyond retention.
    fn put_request(
        &self,
        system: &mut Table<&str, u64>,
        key: &str,
        response: &[u8],
        txn: &redb::WriteTransaction,
    ) -> Result<(), StoreError> {
        let mut requests = txn.open_table(REQUESTS).at(&self.path)?;
        let mut order = txn.open_table(REQUEST_ORDER).at(&self.path)?;
        let seq = read_u64(system, KEY_NEXT_REQUEST_SEQ, &self.path)?;
        system
            .insert(KEY_NEXT_REQUEST_SEQ, self.increment(seq, "request")?)
            .at(&self.path)?;
        // Re-storing a key refreshes its place in the eviction order.
        let replaced = requests
            .insert(key, (seq, response))
            .at(&self.path)?
            .map(|old| old.value().0);
        if let Some(old_seq) = replaced {
            order.remove(old_seq).at(&self.path)?;
        }
        order.insert(seq, key).at(&self.path)?;
        while requests.len().at(&self.path)? > self.options.request_retention {
            let oldest = order
                .pop_first()
                .at(&self.path)?
                .map(|(_, key)| key.value().to_owned())
                .ok_or_else(|| self.corrupt("the request index is out of step with requests"))?;
            requests.remove(oldest.as_str()).at(&self.path)?;
        }
        Ok(())
    }
}

impl Store for RedbStore {
    fn load(&self) -> Result<StoredState, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let system = txn.open_table(SYSTEM).at(&self.path)?;
        let audit = txn.open_table(AUDIT).at(&self.path)?;
        let audit_head = audit
            .last()
            .at(&self.path)?
            .map(|(seq, record)| (seq.value(), record.value().to_vec()));
        Ok(StoredState {
            revision: read_u64(&system, KEY_REVISION, &self.path)?,
            epoch: read_u64(&system, KEY_EPOCH, &self.path)?,
            meta: read_all(&txn.open_table(META).at(&self.path)?, &self.path)?,
            resources: read_all(&txn.open_table(RESOURCES).at(&self.path)?, &self.path)?,
            audit_head,
        })
    }

    fn commit(&self, commit: Commit) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        let revision = {
            let mut system = txn.open_table(SYSTEM).at(&self.path)?;
            let actual = read_u64(&system, KEY_REVISION, &self.path)?;
            if actual != commit.expected_revision {
                return Err(StoreError::Conflict {
                    expected: commit.expected_revision,
                    actual,
                });
            }
            let mut audit = txn.open_table(AUDIT).at(&self.path)?;
            let last_audit = audit.last().at(&self.path)?.map(|(seq, _)| seq.value());
            commit.validate(last_audit)?;
            let revision = self.increment(actual, "revision")?;

            let mut resources = txn.open_table(RESOURCES).at(&self.path)?;
            for (key, value) in &commit.puts {
                resources
                    .insert(key.as_str(), value.as_slice())
                    .at(&self.path)?;
            }
            for key in &commit.deletes {
                resources.remove(key.as_str()).at(&self.path)?;
            }
            let mut meta = txn.open_table(META).at(&self.path)?;
            for (key, value) in &commit.meta_puts {
                meta.insert(key.as_str(), value.as_slice()).at(&self.path)?;
            }
            let mut events = txn.open_table(EVENTS).at(&self.path)?;
            for (index, event) in (0u64..).zip(&commit.events) {
                events
                    .insert((revision, index), event.as_slice())
                    .at(&self.path)?;
            }
            self.prune_events(&mut system, &mut events, revision)?;
            if let Some((key, response)) = &commit.request {
                self.put_request(&mut system, key, response, &txn)?;
            }
            for (seq, record) in &commit.audit {
                audit.insert(*seq, record.as_slice()).at(&self.path)?;
            }
            system.insert(KEY_REVISION, revision).at(&self.path)?;
            revision
        };
        txn.commit().at(&self.path)?;
        Ok(revision)
    }

    fn request(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let requests = txn.open_table(REQUESTS).at(&self.path)?;
        let record = requests.get(key).at(&self.path)?;
        Ok(record.map(|r| r.value().1.to_vec()))
    }

    fn events_since(&self, after_revision: u64) -> Result<EventsSince, StoreError> {
        let txn = self.db.begin_read().at(&self.path)?;
        let system = txn.open_table(SYSTEM).at(&self.path)?;
        let dropped_through = read_u64(&system, KEY_EVENTS_DROPPED_THROUGH, &self.path)?;
        if let Some(answer) = compacted(after_revision, dropped_through) {
            return Ok(answer);
        }
        let Some(first) = after_revision.checked_add(1) else {
            return Ok(EventsSince::Events(Vec::new()));
        };
        let events = txn.open_table(EVENTS).at(&self.path)?;
        let mut out = Vec::new();
        for entry in events.range((first, 0)..).at(&self.path)? {
            let (key, event) = entry.at(&self.path)?;
            out.push((key.value().0, event.value().to_vec()));
        }
        Ok(EventsSince::Events(out))
    }

    fn begin_epoch(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        let epoch = {
            let mut system = txn.open_table(SYSTEM).at(&self.path)?;
            let epoch = self.increment(read_u64(&system, KEY_EPOCH, &self.path)?, "epoch")?;
            system.insert(KEY_EPOCH, epoch).at(&self.path)?;
            epoch
        };
        txn.commit().at(&self.path)?;
        Ok(epoch)
    }

    fn append_audit(&self, seq: u64, record: Vec<u8>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().at(&self.path)?;
        {
            let mut audit = txn.open_table(AUDIT).at(&self.path)?;
            let last = audit.last().at(&self.path)?.map(|(s, _)| s.value());
            check_audit_seq(seq, last)?;
            audit.insert(seq, record.as_slice()).at(&self.path)?;
        }
        txn.commit().at(&self.path)
    }

    fn audit_since(&self, after_seq: u64) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(first) = after_seq.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.db.begin_read().at(&self.path)?;
        let audit = txn.open_table(AUDIT).at(&self.path)?;
        let mut out = Vec::new();
        for entry in audit.range(first..).at(&self.path)? {
            let (seq, record) = entry.at(&self.path)?;
            out.push((seq.value(), record.value().to_vec()));
        }
        Ok(out)
    }
}

/// A counter in the `system` table; absent means 0.
fn read_u64(
    system: &impl ReadableTable<&'static str, u64>,
    key: &str,
    path: &Path,
) -> Result<u64, StoreError> {
    Ok(system.get(key).at(path)?.map_or(0, |v| v.value()))
}

fn read_all(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    path: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>, StoreError> {
    let mut out = std::collections::BTreeMap::new();
    for entry in table.iter().at(path)? {
        let (key, value) = entry.at(path)?;
        out.insert(key.value().to_owned(), value.value().to_vec());
    }
    Ok(out)
}

/// Attaches the file to a redb error and sorts it into a [`StoreError`].
trait At<T> {
    fn at(self, path: &Path) -> Result<T, StoreError>;
}

impl<T, E: Into<redb::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|e| from_redb(path, e.into()))
    }
}

fn from_redb(path: &Path, err: redb::Error) -> StoreError {
    let location = path.display().to_string();
    match err {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StoreError::Locked { location }
        }
        redb::Error::Corrupted(detail) => StoreError::Corrupt(format!(
            "store {location} is corrupt ({detail}); move it aside and restore a backup, \
             or remove it to start empty"
        )),
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)
        | redb::Error::TableDoesNotExist(_)) => StoreError::Corrupt(format!(
            "store {location} does not have the layout this build expects ({e}); \
             it was not written by a compatible weftd"
        )),
        redb::Error::UpgradeRequired(version) => StoreError::Backend(format!(
            "store {location} uses redb file format {version}, which this build cannot open; \
             upgrade it with the redb release that wrote it"
        )),
        // redb reports a file that is not a database at all (bad magic) this way.
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::Corrupt(format!(
                "store {location} is not a readable weft store ({source}); move it aside \
                 and restore a backup, or remove it to start empty"
            ))
        }
        redb::Error::Io(source) => StoreError::Io { location, source },
        other => StoreError::Backend(format!("store {location}: {other}")),
    }
}
