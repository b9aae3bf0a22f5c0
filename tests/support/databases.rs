//! The local PostgreSQL and MariaDB/MySQL the JDBC tests run against, through their own command-line
//! clients (`psql`, `mariadb`), so what the tests check is not read back through the code under test.
//! `PIPEWRIGHT_TEST_POSTGRES_URL` / `PIPEWRIGHT_TEST_MYSQL_URL` (`postgres://user@host:port/db`,
//! `mysql://user[:password]@host:port/db`) name other servers. A server that does not answer fails the test
//! saying so: nothing is skipped.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// One database server and its client.
#[derive(Debug, Clone)]
pub struct Database {
    pub kind: Kind,
    /// The URL the connectors are given.
    pub url: String,
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
}

fn parse(url: &str, kind: Kind) -> Database {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let (auth, location) = rest.rsplit_once('@').unwrap_or(("", rest));
    let (user, password) = match auth.split_once(':') {
        Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
        None => (auth.to_owned(), None),
    };
    let (host_port, database) = location.split_once('/').unwrap_or((location, "test"));
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, ""));
    let default_port = if kind == Kind::Postgres { 5432 } else { 3306 };
    Database {
        kind,
        url: url.to_owned(),
        host: host.to_owned(),
        port: port.parse().unwrap_or(default_port),
        user: if user.is_empty() {
            if kind == Kind::Postgres {
                "postgres"
            } else {
                "root"
            }
            .to_owned()
        } else {
            user
        },
        password,
        database: database.split('?').next().unwrap_or("test").to_owned(),
    }
}

impl Database {
    /// The PostgreSQL server (default `postgres://postgres@127.0.0.1:5432/test`); panics when it does not answer.
    pub fn postgres() -> Database {
        let url = std::env::var("PIPEWRIGHT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let db = parse(&url, Kind::Postgres);
        db.check_reachable();
        db
    }

    /// The MySQL/MariaDB server (default `mysql://root@127.0.0.1:3306/test`); panics when it does not answer.
    pub fn mysql() -> Database {
        let url = std::env::var("PIPEWRIGHT_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
        let db = parse(&url, Kind::MySql);
        db.check_reachable();
        db
    }

    fn check_reachable(&self) {
        if let Err(e) = self.try_sql("SELECT 1") {
            panic!(
                "the {:?} server at {}:{} does not answer ({e}); start it or set PIPEWRIGHT_TEST_{}_URL",
                self.kind,
                self.host,
                self.port,
                if self.kind == Kind::Postgres { "POSTGRES" } else { "MYSQL" }
            );
        }
    }

    /// Runs `sql` with the server's own client; its output rows, tab-separated.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let mut command = match self.kind {
            Kind::Postgres => {
                let mut c = Command::new("psql");
                c.args(["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1"])
                    .args([
                        "-h",
                        &self.host,
                        "-p",
                        &self.port.to_string(),
                        "-U",
                        &self.user,
                    ])
                    .args(["-d", &self.database, "-c", sql]);
                if let Some(p) = &self.password {
                    c.env("PGPASSWORD", p);
                }
                c
            }
            Kind::MySql => {
                let mut c = Command::new("mariadb");
                c.args(["-N", "-B", "--protocol=TCP"]).args([
                    "-h",
                    &self.host,
                    "-P",
                    &self.port.to_string(),
                    "-u",
                    &self.user,
                ]);
                if let Some(p) = &self.password {
                    c.arg(format!("-p{p}"));
                }
                c.args([
                    &self.database,
                    "-e",
                    &format!("SET time_zone = '+00:00'; {sql}"),
                ]);
                c
            }
        };
        let out = command
            .output()
            .map_err(|e| format!("cannot run the client: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `sql`; panics with the client's error.
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("{:?}: `{sql}` failed: {e}", self.kind))
    }

    /// The rows of `sql`, one string each.
    pub fn rows(&self, sql: &str) -> Vec<String> {
        self.sql(sql).lines().map(str::to_owned).collect()
    }
}

/// A table name no other test (or run) uses; [`DroppedTable`] drops it at the end.
pub fn unique_table(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "pw_{name}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops its table when the test ends, pass or fail.
pub struct DroppedTable(pub Database, pub String);

impl Drop for DroppedTable {
    fn drop(&mut self) {
        let _ = self.0.try_sql(&format!("DROP TABLE IF EXISTS {}", self.1));
    }
}
