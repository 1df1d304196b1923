//! What the database layer fails with, and whether trying again later can help.

/// An error of the PostgreSQL or MySQL writers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A query, a connection or the pool failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The local store (redb) or a task around it failed while feeding or following a
    /// database. Retried like a connection problem.
    #[error("local store: {0}")]
    Local(String),
}

/// SQLSTATE codes (both servers report them) of errors that go away on their own: the
/// connection-exception class `08`, serialization failures and deadlocks, too many connections,
/// a server shutting down or restarting.
fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "40001" // serialization_failure / MySQL deadlock
                | "40P01" // deadlock_detected
                | "53300" // too_many_connections
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
                | "08S01" // MySQL communication link failure
        )
}

/// MySQL/MariaDB error numbers of transient errors (their SQLSTATE is often the generic HY000).
const TRANSIENT_MYSQL_ERRORS: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR: too many connections
    1053, // ER_SERVER_SHUTDOWN
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
];

fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => {
            if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                if TRANSIENT_MYSQL_ERRORS.contains(&my.number()) {
                    return true;
                }
            }
            db.code().is_some_and(|c| transient_sqlstate(&c))
        }
        sqlx::Error::Migrate(m) => migrate_is_transient(m),
        _ => false,
    }
}

fn migrate_is_transient(e: &sqlx::migrate::MigrateError) -> bool {
    use sqlx::migrate::MigrateError;
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => sqlx_is_transient(e),
        _ => false,
    }
}

impl DbError {
    /// `true` for errors that retrying later can cure: connection refused or lost, I/O, time
    /// outs, an exhausted or closed pool, deadlocks and serialization failures, a server
    /// shutting down. `false` for errors in the SQL or the data (syntax, missing table,
    /// constraint violation, bad configuration), which the same batch would hit again.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Sqlx(e) => sqlx_is_transient(e),
            DbError::Migrate(e) => migrate_is_transient(e),
            DbError::Local(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_pool_errors_are_transient_sql_errors_are_not() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(DbError::from(sqlx::Error::Io(io)).is_transient());
        assert!(DbError::from(sqlx::Error::PoolTimedOut).is_transient());
        assert!(DbError::from(sqlx::Error::PoolClosed).is_transient());
        assert!(!DbError::from(sqlx::Error::RowNotFound).is_transient());
        assert!(!DbError::from(sqlx::Error::Configuration("bad url".into())).is_transient());
        let mig = sqlx::migrate::MigrateError::Execute(sqlx::Error::PoolTimedOut);
        assert!(DbError::from(mig).is_transient());
        assert!(!DbError::from(sqlx::migrate::MigrateError::VersionMissing(1)).is_transient());
        assert!(transient_sqlstate("08006"));
        assert!(transient_sqlstate("40P01"));
        assert!(!transient_sqlstate("42P01"));
        assert!(!transient_sqlstate("23505"));
    }
}
