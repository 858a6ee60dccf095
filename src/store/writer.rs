//! The single writer: a dedicated thread that takes write jobs from a queue,
//! runs every job that is waiting in one `BEGIN IMMEDIATE` transaction (each
//! inside its own savepoint), commits once, and only then answers each job.
//! Under load many requests share one fsync: group commit.

use super::{Db, StoreError};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// Most jobs committed together; bounds the latency of the first in a batch.
const MAX_BATCH: usize = 256;

/// A job runs inside the transaction and returns what to do once the
/// transaction's fate is known (deliver the result, or the commit error).
type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;
/// Given the open transaction, or the error that prevented opening one.
type Job = Box<dyn FnOnce(Result<&Connection, &StoreError>) -> Finish + Send>;

#[derive(Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub(super) fn start(conn: Connection) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                crate::blocking::mark_thread();
                run(conn, rx)
            })
            .map_err(|e| StoreError::Task(e.to_string()))?;
        Ok(Self { tx })
    }

    pub(super) fn submit<T, E, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, E>>, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&Connection, &StoreError>| {
            let outcome = match conn {
                Ok(conn) => run_in_savepoint(conn, f),
                Err(e) => Err(E::from(e.shared("cannot begin"))),
            };
            Box::new(move |commit: Result<(), &StoreError>| {
                let result = match commit {
                    Ok(()) => outcome,
                    Err(e) => Err(E::from(e.shared("commit failed"))),
                };
                let _ = reply.send(result);
            })
        });
        self.tx
            .send(job)
            .map_err(|_| E::from(StoreError::WriterGone))?;
        Ok(rx)
    }
}

fn run_in_savepoint<T, E, F>(conn: &Connection, f: F) -> Result<T, E>
where
    F: FnOnce(&Db<'_>) -> Result<T, E>,
    E: From<StoreError>,
{
    conn.execute_batch("SAVEPOINT job")
        .map_err(|e| E::from(StoreError::from(e)))?;
    let result = catch_unwind(AssertUnwindSafe(|| f(&Db::new(conn))))
        .unwrap_or_else(|_| Err(E::from(StoreError::Task("write job panicked".into()))));
    let end = if result.is_ok() {
        conn.execute_batch("RELEASE job")
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    match end {
        Ok(()) => result,
        Err(e) => Err(E::from(StoreError::from(e))),
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let err = StoreError::from(e);
            tracing::error!(error = %err, "cannot begin a write transaction");
            for job in batch.drain(..) {
                job(Err(&err))(Err(&err));
            }
            continue;
        }
        let finishes: Vec<Finish> = batch.drain(..).map(|job| job(Ok(&conn))).collect();
        let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
        if let Err(e) = &committed {
            tracing::error!(error = %e, "group commit failed; rolling back the batch");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishes {
            finish(committed.as_ref().map(|_| ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{test_store, StoreError};

    #[tokio::test]
    async fn failed_job_rolls_back_alone_and_concurrent_jobs_commit() {
        let (_dir, store) = test_store();
        let mut handles = Vec::new();
        for i in 0..50 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                s.write(move |db| {
                    db.conn
                        .execute(
                            "INSERT INTO accounts (id, name, created_at) VALUES (?1, 'a', 0)",
                            [format!("acc_{i}")],
                        )
                        .map_err(StoreError::from)?;
                    if i % 10 == 0 {
                        return Err(StoreError::Corrupt("test".into()));
                    }
                    Ok(())
                })
                .await
            }));
        }
        let mut ok = 0;
        for h in handles {
            if h.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        assert_eq!(ok, 45);
        let n: i64 = store
            .read(|db| {
                db.conn
                    .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
                    .map_err(StoreError::from)
            })
            .await
            .unwrap();
        assert_eq!(n, 45);
    }
}
