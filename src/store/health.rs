//! Probes for `/readyz` and `/metrics`: no schema of their own.

use super::{Db, Store, StoreError};

impl Db<'_> {
    /// The schema version (`PRAGMA user_version`): the cheapest statement
    /// that still needs the database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Messages waiting in the outbox: `queued` and `sending` (the index on
    /// status keeps this cheap however many sent messages are kept).
    pub fn outbox_depth(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT count(*) FROM sms_outbox WHERE status = ?1")?;
        ["queued", "sending"]
            .into_iter()
            .map(|s| Ok((s, st.query_row([s], |r| r.get::<_, i64>(0))? as u64)))
            .collect()
    }
}

impl Store {
    /// Proves the database takes writes: a job through the writer thread,
    /// which opens a `BEGIN IMMEDIATE` transaction (the write lock) and
    /// commits it. Changes nothing.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        self.write(|db| db.schema_version()).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;

    #[tokio::test]
    async fn probes_answer_on_a_fresh_database() {
        let (_dir, store) = test_store();
        store.probe_write().await.unwrap();
        let depth = store.read(|db| db.outbox_depth()).await.unwrap();
        assert_eq!(depth, vec![("queued", 0), ("sending", 0)]);
    }
}
