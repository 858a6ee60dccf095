use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl Db<'_> {
    pub fn insert_account(
        &self,
        id: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)")?
            .execute(params![id, name, to_ms(now)])?;
        Ok(())
    }

    pub fn account(&self, id: &str) -> Result<Option<AccountRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM accounts WHERE id = ?1")?
            .query_row([id], |r| {
                Ok(AccountRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    created_at: from_ms(r.get(2)?),
                })
            })
            .optional()?)
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, name, created_at FROM accounts ORDER BY name, id")?;
        let rows = st.query_map([], |r| {
            Ok(AccountRow {
                id: r.get(0)?,
                name: r.get(1)?,
                created_at: from_ms(r.get(2)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
