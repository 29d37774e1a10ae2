//! Connections to the server: the location (parsed once, shown without its password), one connection
//! with its prepared statements, and a small pool of idle ones.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};

use crate::error::{Error, Result};

/// The oldest server this engine runs on (`SKIP LOCKED`, `pg_current_xact_id`, …; 13 is the oldest
/// release its project still supported in 2025).
const MIN_SERVER_VERSION: u32 = 130_000;

/// A `postgresql://` (or `postgres://`) location: libpq's URL form and its parameters.
#[derive(Clone)]
pub(crate) struct Location {
    config: postgres::Config,
    shown: String,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Whether `location` names a PostgreSQL database rather than a SQLite file.
pub(crate) fn is_postgres(location: &str) -> bool {
    location.starts_with("postgresql://") || location.starts_with("postgres://")
}

impl Location {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| Error::invalid("location", format!("{} is not a PostgreSQL URL: {e}", redact(url))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("modelrunner");
        }
        // Dead peers are noticed by the keepalives rather than by a write that never returns.
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        let shown = shown(&config);
        Ok(Self { config, shown })
    }

    /// The location as messages show it: `postgresql://user@host:port/db`, never the password.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// What a failed connect means, naming the location.
    fn explain(&self, e: &postgres::Error) -> String {
        let reason = describe(e);
        match e.code() {
            Some(c) if *c == postgres::error::SqlState::INVALID_PASSWORD => {
                format!("cannot connect to {}: authentication failed (wrong or missing password): {reason}", self.shown)
            }
            Some(c) if *c == postgres::error::SqlState::INVALID_CATALOG_NAME => {
                format!("cannot connect to {}: the database does not exist (create it first): {reason}", self.shown)
            }
            _ if self.config.get_ssl_mode() == postgres::config::SslMode::Require => {
                format!("cannot connect to {}: this build speaks no TLS (sslmode=require was asked for): {reason}", self.shown)
            }
            _ => format!("cannot connect to {}: {reason}", self.shown),
        }
    }
}

/// `url` with any password replaced, for a message about a URL that did not parse.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "the location".into() };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

fn shown(config: &postgres::Config) -> String {
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(i).or(config.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or("");
    format!("postgresql://{user}{}/{db}", hosts.join(","))
}

/// A server error's own words (`ERROR: relation … does not exist`), or the client's.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {} ({detail})", db.severity(), db.message()),
            None => format!("{}: {}", db.severity(), db.message()),
        },
        None => e.to_string(),
    }
}

/// Whether `e` means the connection is gone (the server restarted, the network failed), so that the
/// same work may succeed on a new connection.
pub(crate) fn is_connection_lost(e: &postgres::Error) -> bool {
    use std::error::Error as _;
    if e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()) {
        return true;
    }
    e.code().is_some_and(|c| {
        let code = c.code();
        code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
    })
}

pub(crate) fn storage(e: postgres::Error) -> Error {
    Error::Storage(describe(&e))
}

/// One connection and the statements prepared on it.
pub(crate) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
    /// A statement failed with a lost connection: the pool drops this one.
    pub(crate) broken: bool,
    /// The last statement that failed was a deadlock or a serialization failure: trying again may work.
    pub(crate) transient: bool,
}

/// Most statements kept prepared on one connection (listings with filters build their SQL).
const MAX_STATEMENTS: usize = 256;

impl PgConn {
    pub(crate) fn connect(location: &Location) -> Result<Self> {
        let mut client = location.config.connect(NoTls).map_err(|e| Error::Storage(location.explain(&e)))?;
        let version: String = client.query_one("SHOW server_version_num", &[]).map_err(|e| Error::Storage(location.explain(&e)))?.get(0);
        let version: u32 = version.trim().parse().unwrap_or(0);
        if version < MIN_SERVER_VERSION {
            return Err(Error::Storage(format!(
                "the server at {} runs PostgreSQL {}.{}, which is too old: modelrunner needs {} or newer",
                location.shown,
                version / 10_000,
                version % 10_000,
                MIN_SERVER_VERSION / 10_000
            )));
        }
        Ok(Self { client, statements: HashMap::new(), broken: false, transient: false })
    }

    fn statement(&mut self, sql: &str) -> Result<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let statement = self.client.prepare(sql).map_err(|e| self.failed(e))?;
        if self.statements.len() >= MAX_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn failed(&mut self, e: postgres::Error) -> Error {
        self.transient = e.code().is_some_and(|c| matches!(c.code(), "40001" | "40P01"));
        if is_connection_lost(&e) {
            self.broken = true;
            return Error::Storage(format!("lost the connection to the database: {}", describe(&e)));
        }
        storage(e)
    }

    pub(crate) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let statement = self.statement(sql)?;
        self.client.execute(&statement, params).map_err(|e| self.failed(e))
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let statement = self.statement(sql)?;
        self.client.query(&statement, params).map_err(|e| self.failed(e))
    }

    pub(crate) fn query_opt(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>> {
        let statement = self.statement(sql)?;
        self.client.query_opt(&statement, params).map_err(|e| self.failed(e))
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
        let statement = self.statement(sql)?;
        self.client.query_one(&statement, params).map_err(|e| self.failed(e))
    }

    /// Statements without parameters, in one round trip.
    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        self.client.batch_execute(sql).map_err(|e| self.failed(e))
    }

    /// The connection's notifications (a `LISTEN`ing connection).
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Idle connections, handed out one at a time; a broken one is dropped instead of returned. They
/// commit asynchronously (what a worker writes alone, its claims, leases and heartbeats, is redone by
/// the rescue when a server crash loses it); a transaction that must be durable says so with
/// `SET LOCAL synchronous_commit = on`.
pub(crate) struct Pool {
    location: Arc<Location>,
    idle: Mutex<Vec<PgConn>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("location", &self.location).field("idle", &self.idle.lock().len()).finish()
    }
}

/// Idle connections kept per process.
const MAX_IDLE: usize = 8;

impl Pool {
    pub(crate) fn new(location: Arc<Location>) -> Self {
        Self { location, idle: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on a pooled connection; when the connection turns out to be lost, once more on a new one
    /// (`f` must be safe to run again: a read, or a transaction that rolled back).
    pub(crate) fn with<T>(&self, mut f: impl FnMut(&mut PgConn) -> Result<T>) -> Result<T> {
        for attempt in 0..2 {
            let mut conn = match self.idle.lock().pop() {
                Some(c) => c,
                None => {
                    let mut c = PgConn::connect(&self.location)?;
                    c.batch("SET synchronous_commit = off")?;
                    c
                }
            };
            let out = f(&mut conn);
            if !conn.broken {
                let mut idle = self.idle.lock();
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
                return out;
            }
            // The others are likely gone too (a server restart cuts every connection).
            self.idle.lock().clear();
            if attempt == 1 {
                return out;
            }
        }
        unreachable!("the loop returns")
    }
}
