//! Scale definitions: seeded from `domain::scales::builtin` at start-up (missing versions only),
//! read from the database afterwards.

use chrono::Utc;

use crate::{
    db::{Db, DbConnection, is_unique_violation, to_db},
    domain::scales::{ScaleDef, builtin},
    repo::scores::{self, ScaleRow},
};

/// Inserts any built-in (code, version) not yet stored. Safe when replicas start together.
pub fn seed(db: &Db) -> anyhow::Result<usize> {
    let mut added = 0;
    let mut conn = db.get()?;
    for def in builtin() {
        if scores::scale_exists(&mut conn, &def.code, def.version)? {
            continue;
        }
        let row = ScaleRow {
            code: def.code.clone(),
            version: def.version,
            definition: serde_json::to_string(&def)?,
            created_at: to_db(Utc::now()),
        };
        match scores::insert_scale(&mut conn, &row) {
            Ok(()) => added += 1,
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(added)
}

/// Every stored definition, all versions.
pub fn all(conn: &mut DbConnection) -> diesel::QueryResult<Vec<ScaleDef>> {
    scores::all_definitions(conn)
}

pub use crate::repo::scores::ScaleCache;

/// The latest version of `code`, or the given version.
pub fn find(conn: &mut DbConnection, code: &str, version: Option<i32>) -> diesel::QueryResult<Option<ScaleDef>> {
    let mut matching: Vec<ScaleDef> = all(conn)?.into_iter().filter(|d| d.code == code).collect();
    matching.sort_by_key(|d| d.version);
    Ok(match version {
        Some(v) => matching.into_iter().find(|d| d.version == v),
        None => matching.pop(),
    })
}
