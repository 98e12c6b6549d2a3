//! The target PostgreSQL server: connections, the errors of each step, and the
//! database-level operations (preflight, `<name>__loading`, swap).
//!
//! Safety rules implemented here:
//! - data is only ever written into `<name>__loading`, a database we create (marked with
//!   a `bak2pg:` comment so that a leftover one of ours can be recognised and dropped);
//! - `<name>` is touched only by the swap, which renames it aside and the loading
//!   database into place in **one transaction** (both renames or neither);
//! - sessions of other users are never terminated: a rename they block fails clearly.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime};

use tokio_postgres::{Client, Config, NoTls};

use crate::ddl::quote_ident;
use crate::report::{Step, utc_compact};

pub mod tls;

/// Suffix of the database being built.
pub const LOADING_SUFFIX: &str = "__loading";
/// Suffix of a database between its `CREATE DATABASE` and its marking comment: created
/// under this name, commented, then renamed to `<name>__loading`, so that a kill between
/// the two statements leaves a name only bak2pg uses, on an empty database.
pub const CREATING_SUFFIX: &str = "__creating";
/// Infix of the name a previous database is kept under: `<name>__prev_<UTC>`.
pub const PREV_INFIX: &str = "__prev_";
/// Bytes after [`PREV_INFIX`]: `20261121T165800Z` and a possible `_NN`.
const PREV_ROOM: usize = 16 + 3;
/// Prefix of the comment marking databases created by bak2pg.
pub const COMMENT_PREFIX: &str = "bak2pg:";
/// Oldest supported server: `gen_random_uuid()` is built in from 13 on.
pub const MIN_SERVER_VERSION: i32 = 130_000;

/// What kind of failure, for callers that branch on it (exit codes, retry policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The options are unusable (an unparsable connection string).
    Config,
    /// The server could not be reached or refused the login (transient or configuration).
    Connect,
    /// The role lacks a privilege (CREATEDB, ownership of the database to replace).
    Permission,
    /// The server is unsuitable (too old).
    Server,
    /// PostgreSQL rejected a statement.
    Postgres,
    /// The source failed to produce rows.
    Source,
    /// A value or schema could not be converted.
    Conversion,
    /// Other sessions or another run are using a database we must rename or drop.
    Busy,
    /// A database name is taken by something that is not ours, or is too long.
    Conflict,
    /// Checksums or row counts differ.
    Validation,
}

/// A failed step: which step, which table or object, and the cause (with the SQLSTATE
/// for PostgreSQL errors). Never contains a password.
#[derive(Debug)]
pub struct MigrateError {
    /// The step that stopped.
    pub step: Step,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The table concerned (`schema.table` in SQL Server terms), if any.
    pub table: Option<String>,
    /// The object concerned (constraint, index, column, database), if any.
    pub object: Option<String>,
    /// SQLSTATE of a PostgreSQL error.
    pub sqlstate: Option<String>,
    /// What went wrong.
    pub message: String,
    /// The report as far as the run got (set by [`crate::migrate::migrate`]).
    pub report: Option<Box<crate::report::Report>>,
    /// The underlying error (the driver's, the source's), kept for
    /// [`std::error::Error::source`]; its text is already in `message`. Boxed twice so
    /// that the field is one pointer (every step returns this error by value).
    pub cause: Option<Box<Cause>>,
}

/// The underlying error of a [`MigrateError`].
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

impl MigrateError {
    /// A new error without table, object or SQLSTATE.
    pub fn new(step: Step, kind: ErrorKind, message: impl Into<String>) -> Self {
        MigrateError {
            step,
            kind,
            table: None,
            object: None,
            sqlstate: None,
            message: message.into(),
            report: None,
            cause: None,
        }
    }
    /// Sets the table.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }
    /// Sets the object.
    pub fn object(mut self, object: impl Into<String>) -> Self {
        self.object = Some(object.into());
        self
    }
    /// Keeps `cause` as the error's source.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.cause = Some(Box::new(Box::new(cause)));
        self
    }
    /// True when running again later may succeed without changing anything (the server
    /// was unreachable, other sessions held a database, a connection broke; SQLSTATE
    /// classes 08 connection, 40 rollback, 53 resources, 57 operator intervention): the
    /// pipeline's `transient` class. Everything else needs a change first (`permanent`).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, ErrorKind::Connect | ErrorKind::Busy)
            || self.sqlstate.as_deref().is_some_and(|s| ["08", "40", "53", "57"].iter().any(|c| s.starts_with(c)))
    }

    /// A PostgreSQL error of `step` (server message, detail and hint, and SQLSTATE), the
    /// driver's error kept as its source.
    pub fn pg(step: Step, e: tokio_postgres::Error) -> Self {
        let (message, sqlstate) = pg_message(&e);
        let kind = match sqlstate.as_deref() {
            Some("42501") => ErrorKind::Permission,
            Some("55006") => ErrorKind::Busy,
            None if e.is_closed() => ErrorKind::Connect,
            _ => ErrorKind::Postgres,
        };
        MigrateError { sqlstate, ..MigrateError::new(step, kind, message) }.caused_by(e)
    }
}

impl fmt::Display for MigrateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}", self.step)?;
        if let Some(t) = &self.table {
            write!(f, ", table {t}")?;
        }
        if let Some(o) = &self.object {
            write!(f, ", {o}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(s) = &self.sqlstate {
            write!(f, " (SQLSTATE {s})")?;
        }
        Ok(())
    }
}

impl std::error::Error for MigrateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|c| &**c as &(dyn std::error::Error + 'static))
    }
}

/// The server's message, detail and hint, and the SQLSTATE, of a PostgreSQL error.
pub fn pg_message(e: &tokio_postgres::Error) -> (String, Option<String>) {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("PostgreSQL {}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; detail: {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            (m, Some(db.code().code().to_string()))
        }
        None => (format!("PostgreSQL: {e}"), e.code().map(|c| c.code().to_string())),
    }
}

/// A PostgreSQL server given by a connection URL or key=value string. The database in it
/// is the maintenance database (connected to create, rename and drop databases). Its
/// `Debug` and `Display` show host, port and user only.
#[derive(Clone)]
pub struct Target {
    config: Config,
    maintenance_db: String,
    /// TLS per the string's `sslmode`/`sslrootcert` ([`tls`]); `None` for `disable`.
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.server())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.server())
    }
}

/// Removes the password from a connection URL, for messages (`postgres://u:***@h/db`).
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.rsplit_once('@')
    {
        let user = auth.split(':').next().unwrap_or("");
        let masked = if auth.contains(':') { format!("{user}:***") } else { user.to_string() };
        return format!("{scheme}://{masked}@{host}");
    }
    if url.contains("password") { "<connection string with password>".to_string() } else { url.to_string() }
}

impl Target {
    /// Parses a `postgres://user[:password]@host[:port][/maintenance_db]` URL (or a
    /// libpq key=value string). The maintenance database defaults to `postgres`.
    ///
    /// # Errors
    /// [`ErrorKind::Config`] for an unparsable string (the message shows it redacted).
    pub fn parse(url: &str) -> Result<Self, MigrateError> {
        let config_err = |e: tls::TlsError| {
            MigrateError::new(
                Step::Preflight,
                ErrorKind::Config,
                format!("invalid PostgreSQL connection string {}: {e}", redact_url(url)),
            )
            .caused_by(e)
        };
        let (pg_url, tls_opts) = tls::split(url).map_err(config_err)?;
        let tls = tls::client_config(&tls_opts).map_err(config_err)?.map(std::sync::Arc::new);
        let mut config = Config::from_str(&pg_url).map_err(|e| {
            MigrateError::new(
                Step::Preflight,
                ErrorKind::Config,
                format!("invalid PostgreSQL connection string {}: {e}", redact_url(url)),
            )
        })?;
        if config.get_hosts().is_empty() {
            return Err(MigrateError::new(
                Step::Preflight,
                ErrorKind::Config,
                format!("the PostgreSQL connection string {:?} names no host", redact_url(url)),
            ));
        }
        if config.get_user().is_none() {
            // libpq would take the OS user; be explicit rather than surprising.
            let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        let maintenance_db = config.get_dbname().unwrap_or("postgres").to_string();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(15));
        }
        config.application_name("bak2pg");
        Ok(Target { config, maintenance_db, tls })
    }

    /// Uses `password` when the connection string has none (the CLI passes `PGPASSWORD`,
    /// so passwords stay off command lines and out of process listings).
    pub fn with_default_password(mut self, password: Option<&str>) -> Self {
        if self.config.get_password().is_none()
            && let Some(p) = password
        {
            self.config.password(p);
        }
        self
    }

    /// `user@host:port` (no password).
    pub fn server(&self) -> String {
        use tokio_postgres::config::Host;
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                Host::Tcp(s) => s.clone(),
                #[cfg(unix)]
                Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!("{}@{}:{port}", self.config.get_user().unwrap_or(""), hosts.join(","))
    }

    /// The maintenance database.
    pub fn maintenance_db(&self) -> &str {
        &self.maintenance_db
    }

    /// Connects to `dbname`; the connection is driven by a spawned task.
    ///
    /// # Errors
    /// [`ErrorKind::Connect`] (with the server named, never the password).
    pub async fn connect(&self, step: Step, dbname: &str) -> Result<Client, MigrateError> {
        let mut c = self.config.clone();
        c.dbname(dbname);
        let failed = |e: tokio_postgres::Error| {
            let (m, sqlstate) = pg_message(&e);
            let kind = if sqlstate.as_deref() == Some("42501") { ErrorKind::Permission } else { ErrorKind::Connect };
            MigrateError {
                sqlstate,
                ..MigrateError::new(step, kind, format!("cannot connect to {} database {dbname:?}: {m}", self.server()))
            }
            .caused_by(e)
        };
        // The two connectors give connections of different types: spawn each its own way.
        let client = match &self.tls {
            None => {
                let (client, conn) = c.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                client
            }
            Some(tls) => {
                let mk = tokio_postgres_rustls::MakeRustlsConnect::new(tls.as_ref().clone());
                let (client, conn) = c.connect(mk).await.map_err(failed)?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                client
            }
        };
        Ok(client)
    }
}

/// Awaits `futures` (tokio-postgres requests on one connection) and returns their
/// outcomes in order, after polling each once in order first.
///
/// A tokio-postgres request is sent when its future is first polled, and the server runs
/// a connection's requests in the order sent; so this sends them all at once
/// (pipelining) and the server runs them one after the other exactly as if they were
/// awaited one by one, but without a round trip between them. Simple queries
/// (`batch_execute`, `simple_query`) are each their own implicit transaction: a failing
/// one does not affect the others.
pub async fn pipelined<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    for (f, o) in futures.iter_mut().zip(&mut out) {
        if let std::task::Poll::Ready(v) = futures::poll!(f.as_mut()) {
            *o = Some(v);
        }
    }
    for (f, o) in futures.iter_mut().zip(&mut out) {
        if o.is_none() {
            *o = Some(f.as_mut().await);
        }
    }
    out.into_iter().map(|o| o.expect("every future was awaited")).collect()
}

/// Names derived from the final database name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Names {
    /// Final name.
    pub name: String,
    /// `<name>__loading`.
    pub loading: String,
}

impl Names {
    /// Names for `name`.
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when `name` is empty or the derived names would exceed
    /// PostgreSQL's 63 bytes (PostgreSQL would truncate them silently).
    pub fn new(name: &str) -> Result<Self, MigrateError> {
        let longest = name.len() + PREV_INFIX.len() + PREV_ROOM;
        if name.is_empty() || longest > crate::ddl::MAX_IDENT_BYTES {
            return Err(MigrateError::new(
                Step::Preflight,
                ErrorKind::Conflict,
                format!(
                    "database name {name:?} is empty or too long: with {PREV_INFIX}<UTC time> it must fit in 63 bytes (at most {} bytes); choose a shorter target name",
                    crate::ddl::MAX_IDENT_BYTES - PREV_INFIX.len() - PREV_ROOM
                ),
            ));
        }
        Ok(Names { name: name.to_string(), loading: format!("{name}{LOADING_SUFFIX}") })
    }

    /// `<name>__creating`: the loading database before its marking comment.
    pub fn creating(&self) -> String {
        format!("{}{CREATING_SUFFIX}", self.name)
    }
}

/// What preflight found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerFacts {
    /// `server_version_num`.
    pub version_num: i32,
    /// `server_version`.
    pub version: String,
    /// The role we are.
    pub role: String,
    /// Whether `<name>` exists now.
    pub target_exists: bool,
    /// Whether a new database of this server can have PostGIS.
    #[serde(default)]
    pub postgis: PostgisStatus,
}

/// Whether PostGIS can be used in the loading database (which bak2pg creates from
/// `template0`, so it holds no extension until it is created there).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgisStatus {
    /// Not asked (facts from an older bak2pg).
    #[default]
    NotChecked,
    /// `pg_available_extensions` lists `postgis` and this role may create it.
    Available {
        /// The version `CREATE EXTENSION postgis` installs.
        version: String,
    },
    /// PostGIS cannot be used, and why.
    Unavailable {
        /// For the report.
        reason: String,
    },
}

/// Asks whether PostGIS can be created in a new database: the server must offer the
/// extension (`pg_available_extensions`), and the role must be a superuser unless the
/// extension's default version is marked trusted (PostGIS 3 is not).
async fn postgis_status(c: &Client, role: &str) -> Result<PostgisStatus, tokio_postgres::Error> {
    let row = c
        .query_opt(
            "SELECT v.version::text, v.superuser, v.trusted, r.rolsuper \
             FROM pg_available_extensions e \
             JOIN pg_available_extension_versions v ON v.name = e.name AND v.version = e.default_version \
             JOIN pg_roles r ON r.rolname = current_user \
             WHERE e.name = 'postgis'",
            &[],
        )
        .await?;
    Ok(match row {
        None => PostgisStatus::Unavailable {
            reason: "the server offers no postgis extension (pg_available_extensions does not list it)".into(),
        },
        Some(r) => {
            let (version, needs_super, trusted, is_super): (String, bool, bool, bool) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            if needs_super && !trusted && !is_super {
                PostgisStatus::Unavailable {
                    reason: format!("creating the postgis extension needs a superuser, and role {role:?} is not one"),
                }
            } else {
                PostgisStatus::Available { version }
            }
        }
    })
}

/// Checks, before anything is written: the server answers, is PostgreSQL 13 or newer,
/// our role may create databases, and may rename `<name>` if it exists (owner or
/// superuser).
///
/// # Errors
/// [`ErrorKind::Connect`], [`ErrorKind::Server`], [`ErrorKind::Permission`].
pub async fn preflight(target: &Target, names: &Names) -> Result<ServerFacts, MigrateError> {
    let step = Step::Preflight;
    if target.maintenance_db() == names.name || target.maintenance_db() == names.loading {
        return Err(MigrateError::new(
            step,
            ErrorKind::Conflict,
            format!(
                "the connection URL names database {:?}, which this run must rename; name another one (e.g. postgres) to connect through",
                target.maintenance_db()
            ),
        ));
    }
    let c = target.connect(step, target.maintenance_db()).await?;
    let row = c
        .query_one(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version'), \
             r.rolname::text, r.rolsuper OR r.rolcreatedb \
             FROM pg_roles r WHERE r.rolname = current_user",
            &[],
        )
        .await
        .map_err(|e| MigrateError::pg(step, e))?;
    let facts = ServerFacts {
        version_num: row.get(0),
        version: row.get(1),
        role: row.get(2),
        target_exists: false,
        postgis: PostgisStatus::NotChecked,
    };
    let createdb: bool = row.get(3);
    if facts.version_num < MIN_SERVER_VERSION {
        return Err(MigrateError::new(
            step,
            ErrorKind::Server,
            format!(
                "PostgreSQL {} is too old: 13 or newer is needed (gen_random_uuid, generated columns)",
                facts.version
            ),
        ));
    }
    if !createdb {
        return Err(MigrateError::new(
            step,
            ErrorKind::Permission,
            format!(
                "role {:?} may not create databases: it needs CREATEDB (ALTER ROLE … CREATEDB) or superuser",
                facts.role
            ),
        ));
    }
    let owner = c
        .query_opt(
            "SELECT pg_has_role(current_user, d.datdba, 'MEMBER') OR r.rolsuper \
             FROM pg_database d, pg_roles r WHERE d.datname = $1 AND r.rolname = current_user",
            &[&names.name],
        )
        .await
        .map_err(|e| MigrateError::pg(step, e))?;
    let mut facts = facts;
    // After the version check: `trusted` is a PostgreSQL 13 column.
    facts.postgis = postgis_status(&c, &facts.role).await.map_err(|e| MigrateError::pg(step, e))?;
    if let Some(row) = owner {
        facts.target_exists = true;
        if !row.get::<_, bool>(0) {
            return Err(MigrateError::new(
                step,
                ErrorKind::Permission,
                format!(
                    "database {:?} exists and role {:?} does not own it, so it could not be renamed aside",
                    names.name, facts.role
                ),
            )
            .object(format!("database {}", names.name)));
        }
    }
    Ok(facts)
}

/// Holds an advisory lock for `<name>` on a maintenance connection for the whole run, so
/// that two runs for the same database do not interleave.
pub struct RunLock {
    client: Client,
}

impl RunLock {
    /// Takes the lock, or fails at once if another run holds it.
    ///
    /// # Errors
    /// [`ErrorKind::Busy`] when another run holds it.
    pub async fn acquire(target: &Target, names: &Names) -> Result<Self, MigrateError> {
        let step = Step::Preflight;
        let client = target.connect(step, target.maintenance_db()).await?;
        let key = xxhash_rust::xxh3::xxh3_64(format!("bak2pg:{}", names.name).as_bytes()) as i64;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .map_err(|e| MigrateError::pg(step, e))?
            .get(0);
        if !got {
            return Err(MigrateError::new(
                step,
                ErrorKind::Busy,
                format!("another bak2pg run is migrating into {:?}", names.name),
            ));
        }
        Ok(RunLock { client })
    }

    /// The maintenance connection holding the lock.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

async fn comment_of(c: &Client, step: Step, db: &str) -> Result<Option<Option<String>>, MigrateError> {
    let row = c
        .query_opt("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", &[&db])
        .await
        .map_err(|e| MigrateError::pg(step, e))?;
    Ok(row.map(|r| r.get(0)))
}

/// Waits until no session is connected to `db` (our own closed connections take a moment
/// to end on the server), up to `timeout`. Returns the number still connected.
///
/// Polls after 2 ms, then twice as long each time up to 50 ms: a server process ends
/// within a few milliseconds of its client closing, so a fixed 50 ms first wait would
/// add 50 ms to most swaps for nothing.
pub async fn wait_no_sessions(c: &Client, step: Step, db: &str, timeout: Duration) -> Result<i64, MigrateError> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let n: i64 = c
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", &[&db])
            .await
            .map_err(|e| MigrateError::pg(step, e))?
            .get(0);
        if n == 0 || start.elapsed() >= timeout {
            return Ok(n);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Drops a database created by bak2pg (its comment says so), after waiting for sessions
/// to end.
///
/// # Errors
/// [`ErrorKind::Conflict`] when the database is not ours; [`ErrorKind::Busy`] when
/// sessions stay connected.
pub async fn drop_ours(c: &Client, step: Step, db: &str) -> Result<bool, MigrateError> {
    match comment_of(c, step, db).await? {
        None => Ok(false),
        Some(Some(comment)) if comment.starts_with(COMMENT_PREFIX) => {
            let n = wait_no_sessions(c, step, db, Duration::from_secs(10)).await?;
            if n > 0 {
                return Err(MigrateError::new(
                    step,
                    ErrorKind::Busy,
                    format!("{n} sessions are connected to {db:?}; bak2pg does not end other sessions"),
                )
                .object(format!("database {db}")));
            }
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(db)))
                .await
                .map_err(|e| MigrateError::pg(step, e).object(format!("database {db}")))?;
            Ok(true)
        }
        Some(_) => Err(MigrateError::new(
            step,
            ErrorKind::Conflict,
            format!("database {db:?} exists and was not created by bak2pg; rename or drop it first"),
        )
        .object(format!("database {db}"))),
    }
}

/// Creates `<name>__loading` (UTF-8, from `template0`), dropping a leftover one of ours.
///
/// `CREATE DATABASE` cannot run in a transaction, so the database and its marking comment
/// are two statements: it is created as `<name>__creating`, commented, then renamed. A run
/// killed in between leaves `<name>__creating`, which the next run drops when it is
/// ours: marked, or unmarked but empty (no relation outside the system schemas, as
/// `template0` makes it: nothing can be lost). Anything else of that name is refused.
///
/// A run killed *during* its `CREATE DATABASE` leaves a server session that finishes the
/// statement after the client is gone, so the next run may not see that database yet and
/// collide with it (SQLSTATE 23505 on `pg_database`, or 42P04): then it waits for the name
/// to appear and treats it as the leftover it is, once.
///
/// # Errors
/// [`ErrorKind::Conflict`] when `<name>__loading` or `<name>__creating` exists and is not
/// ours; PostgreSQL errors of CREATE DATABASE.
pub async fn create_loading(target: &Target, c: &Client, names: &Names) -> Result<(), MigrateError> {
    create_loading_from(target, c, names, None).await
}

/// [`create_loading`], the new database a copy of `template` when given (`--data-only`:
/// a copy of the target `<name>` itself, which PostgreSQL makes only while no other
/// session is connected to it).
///
/// # Errors
/// As [`create_loading`]; [`ErrorKind::Busy`] when sessions are connected to `template`.
pub async fn create_loading_from(
    target: &Target,
    c: &Client,
    names: &Names,
    template: Option<&str>,
) -> Result<(), MigrateError> {
    let step = Step::CreateSchema;
    drop_ours(c, step, &names.loading).await?;
    let creating = names.creating();
    match create_creating(target, c, names, template).await {
        Err(e) if matches!(e.sqlstate.as_deref(), Some("23505" | "42P04")) => {
            tracing::info!(database = %creating, "another session was creating it (an interrupted run); waiting");
            let start = std::time::Instant::now();
            while comment_of(c, step, &creating).await?.is_none() && start.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            create_creating(target, c, names, template).await?;
        }
        other => other?,
    }
    crate::faults::pause("created_database");
    let db = quote_ident(&creating);
    let comment = format!("{COMMENT_PREFIX} loading {:?}, started {}", names.name, utc_compact(SystemTime::now()));
    c.batch_execute(&format!("COMMENT ON DATABASE {db} IS {}", crate::ddl::quote_literal(&comment)))
        .await
        .map_err(|e| MigrateError::pg(step, e))?;
    crate::faults::pause("commented_database");
    c.batch_execute(&format!("ALTER DATABASE {db} RENAME TO {}", quote_ident(&names.loading)))
        .await
        .map_err(|e| MigrateError::pg(step, e).object(format!("database {creating}")))?;
    Ok(())
}

/// Clears a leftover `<name>__creating` of ours (see [`create_loading`]) and creates it.
async fn create_creating(
    target: &Target,
    c: &Client,
    names: &Names,
    template: Option<&str>,
) -> Result<(), MigrateError> {
    let step = Step::CreateSchema;
    let creating = names.creating();
    match comment_of(c, step, &creating).await? {
        None => {}
        Some(Some(comment)) if comment.starts_with(COMMENT_PREFIX) => {
            drop_ours(c, step, &creating).await?;
        }
        Some(_) => {
            if !is_empty_database(target, step, &creating).await? {
                return Err(MigrateError::new(
                    step,
                    ErrorKind::Conflict,
                    format!(
                        "database {creating:?} exists, holds relations and was not created by bak2pg; rename or drop it first"
                    ),
                )
                .object(format!("database {creating}")));
            }
            tracing::info!(database = %creating, "dropping the empty database an interrupted run left");
            let n = wait_no_sessions(c, step, &creating, Duration::from_secs(10)).await?;
            if n > 0 {
                return Err(MigrateError::new(
                    step,
                    ErrorKind::Busy,
                    format!("{n} sessions are connected to {creating:?}"),
                ));
            }
            c.batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&creating)))
                .await
                .map_err(|e| MigrateError::pg(step, e).object(format!("database {creating}")))?;
        }
    }
    let db = quote_ident(&creating);
    let Some(template) = template else {
        return c
            .batch_execute(&format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8'"))
            .await
            .map_err(|e| MigrateError::pg(step, e).object(format!("database {creating}")));
    };
    match c.batch_execute(&format!("CREATE DATABASE {db} TEMPLATE {}", quote_ident(template))).await {
        Ok(()) => Ok(()),
        // 55006: "source database … is being accessed by other users".
        Err(e) if e.code().map(|c| c.code()) == Some("55006") => Err(MigrateError::new(
            step,
            ErrorKind::Busy,
            format!(
                "database {template:?} cannot be copied while other sessions are connected to it (PostgreSQL copies a \
                 database only when nobody uses it); disconnect them and run again"
            ),
        )
        .object(format!("database {template}"))),
        Err(e) => Err(MigrateError::pg(step, e).object(format!("database {creating}"))),
    }
}

/// Whether `db` holds no relation outside PostgreSQL's own schemas.
async fn is_empty_database(target: &Target, step: Step, db: &str) -> Result<bool, MigrateError> {
    let c = target.connect(step, db).await?;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
            &[],
        )
        .await
        .map_err(|e| MigrateError::pg(step, e))?
        .get(0);
    Ok(n == 0)
}

/// What the swap did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SwapOutcome {
    /// The name the previous database is kept under (`None` when there was none, or when
    /// the policy dropped it at once: then `previous_dropped`).
    pub previous_kept_as: Option<String>,
    /// The previous database was dropped (`--keep-previous 0`, `--replace`).
    pub previous_dropped: bool,
    /// Every `<name>__prev_*` copy of ours kept after the swap, newest first.
    #[serde(default)]
    pub previous_kept: Vec<String>,
    /// The older copies the keep-previous policy dropped (this run's and earlier runs').
    #[serde(default)]
    pub previous_dropped_names: Vec<String>,
    /// Problems after the swap itself succeeded (a drop that failed).
    pub warnings: Vec<String>,
}

/// Renames `<name>` to `<name>__prev_<UTC>` (if it exists, marking it as bak2pg's
/// previous copy) and `<name>__loading` to `<name>` in one transaction; then keeps the
/// `keep_previous` newest `<name>__prev_*` copies of ours and drops the older ones, also
/// those an interrupted earlier run left (a kill after the swap but before its drop).
/// Copies that are not ours (no bak2pg comment) are never dropped.
///
/// # Errors
/// [`ErrorKind::Busy`] when sessions are connected to `<name>` (nothing is changed: the
/// transaction rolls back); other PostgreSQL errors, also with nothing changed.
pub async fn swap(c: &Client, names: &Names, keep_previous: u32) -> Result<SwapOutcome, MigrateError> {
    let step = Step::Swap;
    let left = wait_no_sessions(c, step, &names.loading, Duration::from_secs(10)).await?;
    if left > 0 {
        return Err(MigrateError::new(step, ErrorKind::Busy, format!("{left} sessions still use {:?}", names.loading)));
    }
    let exists = c
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&names.name])
        .await
        .map_err(|e| MigrateError::pg(step, e))?
        .is_some();
    // `<name>__prev_<UTC>`, with `_2`, `_3`… when a run in the same second took it.
    let mut prev = None;
    if exists {
        let base = format!("{}{PREV_INFIX}{}", names.name, utc_compact(SystemTime::now()));
        for i in 1..100 {
            let candidate = if i == 1 { base.clone() } else { format!("{base}_{i}") };
            let taken = c
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&candidate])
                .await
                .map_err(|e| MigrateError::pg(step, e))?
                .is_some();
            if !taken {
                prev = Some(candidate);
                break;
            }
        }
        if prev.is_none() {
            return Err(MigrateError::new(
                step,
                ErrorKind::Conflict,
                format!("no free name {base}_N for the previous database"),
            ));
        }
    }
    let mut sql = String::from("BEGIN;\n");
    let now = utc_compact(SystemTime::now());
    if let Some(p) = &prev {
        sql.push_str(&format!("ALTER DATABASE {} RENAME TO {};\n", quote_ident(&names.name), quote_ident(p)));
        let comment = format!("{COMMENT_PREFIX} previous copy of {:?}, renamed aside {now}", names.name);
        sql.push_str(&format!("COMMENT ON DATABASE {} IS {};\n", quote_ident(p), crate::ddl::quote_literal(&comment)));
    }
    sql.push_str(&format!("ALTER DATABASE {} RENAME TO {};\n", quote_ident(&names.loading), quote_ident(&names.name)));
    let comment = format!("{COMMENT_PREFIX} migrated {now}");
    sql.push_str(&format!(
        "COMMENT ON DATABASE {} IS {};\nCOMMIT;",
        quote_ident(&names.name),
        crate::ddl::quote_literal(&comment)
    ));
    if let Err(e) = c.batch_execute(&sql).await {
        let _ = c.batch_execute("ROLLBACK").await;
        let mut err = MigrateError::pg(step, e).object(format!("database {}", names.name));
        if err.sqlstate.as_deref() == Some("55006") {
            err.kind = ErrorKind::Busy;
            err.message = format!(
                "other sessions are connected to {:?}, so it cannot be renamed aside; bak2pg does not end sessions. \
                 Nothing was changed; the validated database is kept as {:?}. ({})",
                names.name, names.loading, err.message
            );
        }
        return Err(err);
    }
    tracing::info!(database = %names.name, previous = ?prev, "swapped the validated database into place");
    crate::faults::pause("swapped");
    let mut out = SwapOutcome {
        previous_kept_as: prev.clone(),
        previous_dropped: false,
        previous_kept: Vec::new(),
        previous_dropped_names: Vec::new(),
        warnings: Vec::new(),
    };
    match keep_policy(c, names, keep_previous, &mut out).await {
        Ok(()) => {}
        Err(e) => out.warnings.push(format!("keeping {keep_previous} previous copies: {e}")),
    }
    if let Some(p) = &prev
        && out.previous_dropped_names.contains(p)
    {
        out.previous_dropped = true;
        out.previous_kept_as = None;
    }
    Ok(out)
}

/// Drops the `<name>__prev_*` copies of ours beyond the `keep` newest (their names sort
/// by the UTC time they carry), recording what it kept and dropped in `out`.
async fn keep_policy(c: &Client, names: &Names, keep: u32, out: &mut SwapOutcome) -> Result<(), MigrateError> {
    let step = Step::Swap;
    let pattern = format!("{}%", like_escape(&format!("{}{PREV_INFIX}", names.name)));
    let rows = c
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database \
             WHERE datname LIKE $1 ORDER BY datname DESC",
            &[&pattern],
        )
        .await
        .map_err(|e| MigrateError::pg(step, e))?;
    let mut ours: Vec<String> = Vec::new();
    for r in &rows {
        let (name, comment): (String, String) = (r.get(0), r.get(1));
        if comment.starts_with(COMMENT_PREFIX) {
            ours.push(name);
        }
    }
    // `_2`, `_3`… of the same second sort after their base name: newest by (time, n).
    ours.sort_by_key(|n| std::cmp::Reverse(prev_order(n, &names.name)));
    for (i, name) in ours.into_iter().enumerate() {
        if i < keep as usize {
            out.previous_kept.push(name);
            continue;
        }
        match drop_ours(c, step, &name).await {
            Ok(_) => out.previous_dropped_names.push(name),
            Err(e) => out.warnings.push(format!("could not drop the older copy {name:?}: {e}")),
        }
    }
    Ok(())
}

/// Sort key of a `<name>__prev_<UTC>[_n]` database: its time, then `n` (1 without).
fn prev_order(db: &str, name: &str) -> (String, u32) {
    let rest = db.get(name.len() + PREV_INFIX.len()..).unwrap_or("");
    match rest.split_once('_') {
        Some((time, n)) => (time.to_string(), n.parse().unwrap_or(0)),
        None => (rest.to_string(), 1),
    }
}

/// `s` with LIKE's wildcards escaped (backslash is the default escape).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(redact_url("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        let t = Target::parse("postgres://u:secret@127.0.0.1:5999/db").unwrap();
        assert!(!format!("{t:?} {t}").contains("secret"));
        let e = Target::parse("postgres://u:secret@h:notaport/db").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(!e.is_transient(), "a bad URL needs fixing, not a retry");
        let mut e = MigrateError::new(Step::LoadData, ErrorKind::Postgres, "x");
        e.sqlstate = Some("22001".into());
        assert!(!e.is_transient());
        e.sqlstate = Some("53100".into());
        assert!(e.is_transient());
    }

    #[test]
    fn names() {
        assert_eq!(Names::new("sales").unwrap().loading, "sales__loading");
        assert!(Names::new(&"x".repeat(50)).is_err());
        assert!(Names::new("").is_err());
    }
}
