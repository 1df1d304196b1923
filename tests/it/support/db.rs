//! Throw-away databases on the test servers: [`TestDb::postgres`] / [`TestDb::mysql`] create a
//! uniquely named database (`jfai_t_<pid>_<nanos>_<n>`) through the server's admin database and
//! return its URL; [`TestDb::drop`] removes it (a best-effort `Drop` does it when a test panics
//! first).
//!
//! Servers: `JFAI_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`) and
//! `JFAI_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306/test`). A server that cannot be
//! reached fails the test with a message saying so: these tests never skip silently.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::{Connection, Executor};

const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    MySql,
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDb {
    /// URL of the new database.
    pub url: String,
    pub name: String,
    server: Server,
    admin_url: String,
    dropped: bool,
}

fn unique_name() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "jfai_t_{}_{}_{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database (path) replaced by `db`, query string kept.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{db}?{q}"),
        None => format!("{host_part}/{db}"),
    }
}

impl TestDb {
    /// A new database on the PostgreSQL test server.
    pub async fn postgres() -> TestDb {
        Self::create(Server::Postgres).await
    }

    /// A new database on the MySQL/MariaDB test server.
    pub async fn mysql() -> TestDb {
        Self::create(Server::MySql).await
    }

    async fn create(server: Server) -> TestDb {
        let (var, default) = match server {
            Server::Postgres => ("JFAI_TEST_PG_URL", PG_DEFAULT),
            Server::MySql => ("JFAI_TEST_MYSQL_URL", MYSQL_DEFAULT),
        };
        let admin_url = std::env::var(var).unwrap_or_else(|_| default.to_string());
        let name = unique_name();
        let sql = format!("CREATE DATABASE {name}");
        run_admin(server, &admin_url, &sql)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{server:?} test server at {admin_url} is unreachable or refused \
                     `{sql}`: {e}. These tests need it running (set {var} to point elsewhere)."
                )
            });
        TestDb {
            url: with_database(&admin_url, &name),
            name,
            server,
            admin_url,
            dropped: false,
        }
    }

    fn drop_sql(&self) -> String {
        match self.server {
            Server::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Server::MySql => format!("DROP DATABASE IF EXISTS {}", self.name),
        }
    }

    /// Drops the database (close the test's pools first).
    pub async fn drop(mut self) {
        self.dropped = true;
        if let Err(e) = run_admin(self.server, &self.admin_url, &self.drop_sql()).await {
            panic!("could not drop test database {}: {e}", self.name);
        }
    }
}

impl Drop for TestDb {
    /// Best effort when the test did not call [`TestDb::drop`] (it panicked): drops the database
    /// from a fresh runtime on its own thread (this may run inside a runtime).
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let (server, admin, sql, name) = (
            self.server,
            self.admin_url.clone(),
            self.drop_sql(),
            self.name.clone(),
        );
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match rt {
                Ok(rt) => rt.block_on(run_admin(server, &admin, &sql)).err(),
                Err(e) => Some(sqlx::Error::Io(e)),
            }
        })
        .join();
        if let Ok(Some(e)) = done {
            eprintln!("could not drop test database {name}: {e}");
        }
    }
}

/// Runs one statement on the admin database, retrying briefly (PostgreSQL refuses concurrent
/// `CREATE DATABASE` from a busy template now and then).
async fn run_admin(server: Server, admin_url: &str, sql: &str) -> Result<(), sqlx::Error> {
    let mut last = None;
    for attempt in 0..5 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        let res = tokio::time::timeout(CONNECT_TIMEOUT, async {
            match server {
                Server::Postgres => {
                    let mut c = sqlx::PgConnection::connect(admin_url).await?;
                    c.execute(sql).await?;
                    c.close().await
                }
                Server::MySql => {
                    let mut c = sqlx::MySqlConnection::connect(admin_url).await?;
                    c.execute(sql).await?;
                    c.close().await
                }
            }
        })
        .await;
        match res {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => {
                // Only "being accessed by other users" is worth another try.
                let retry =
                    matches!(&e, sqlx::Error::Database(d) if d.code().as_deref() == Some("55006"));
                if !retry {
                    return Err(e);
                }
                last = Some(e);
            }
            Err(_) => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {CONNECT_TIMEOUT:?}"),
                )))
            }
        }
    }
    Err(last.expect("an error after retries"))
}
