//! Time series ([`crate::metrics`]): samples added to their buckets, ranges
//! read back.

use std::time::SystemTime;

use super::error::{Object, StorageError, db_error};
use super::{Storage, fetch, with_pool};
use crate::metrics::{Aggregation, Point, Samples, Series, unix_secs};

/// The most rows one insert carries (4 parameters each, well under
/// SQLite's 32 766 and PostgreSQL's 65 535 parameters).
const ROWS_PER_INSERT: usize = 1_000;

impl Storage {
    /// Adds `samples` taken at `at` to the series of `owner`, in the bucket
    /// of every [`Aggregation`] holding `at`, and drops the owner's buckets
    /// past their aggregation's retention.
    pub async fn add_metrics(
        &self,
        owner: &str,
        at: SystemTime,
        samples: &Samples,
    ) -> Result<(), StorageError> {
        let object = Object::Table("metric");
        let t = unix_secs(at);
        let rows: Vec<(i16, i64, &str, f64)> = Aggregation::ALL
            .iter()
            .flat_map(|&aggregation| {
                let bucket = aggregation.bucket_of(t);
                samples
                    .iter()
                    .map(move |(name, value)| (aggregation as i16, bucket, name.as_str(), *value))
            })
            .collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // Built from placeholders only; every value is bound.
            let mut sql = String::from(
                "INSERT INTO metric (owner, aggregation, bucket, name, total, samples) VALUES ",
            );
            for i in 0..chunk.len() {
                let p = i * 4;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!(
                    "($1, ${}, ${}, ${}, ${}, 1)",
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                ));
            }
            sql.push_str(
                " ON CONFLICT (owner, aggregation, bucket, name) DO UPDATE SET \
                 total = metric.total + excluded.total, samples = metric.samples + 1",
            );
            with_pool!(self, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(owner);
                for (aggregation, bucket, name, value) in chunk {
                    query = query.bind(*aggregation).bind(*bucket).bind(*name).bind(*value);
                }
                query.execute(pool).await.map(|_| ())
            })
            .map_err(db_error(object))?;
        }
        let expired = |a: Aggregation| {
            a.bucket_of(
                t.saturating_sub(i64::try_from(a.retention().as_secs()).unwrap_or(i64::MAX)),
            )
        };
        with_pool!(self, pool => {
            sqlx::query(
                "DELETE FROM metric WHERE owner = $1 AND ( \
                 (aggregation = $2 AND bucket < $3) OR (aggregation = $4 AND bucket < $5) OR \
                 (aggregation = $6 AND bucket < $7) OR (aggregation = $8 AND bucket < $9))",
            )
            .bind(owner)
            .bind(Aggregation::Minute as i16)
            .bind(expired(Aggregation::Minute))
            .bind(Aggregation::Hour as i16)
            .bind(expired(Aggregation::Hour))
            .bind(Aggregation::Day as i16)
            .bind(expired(Aggregation::Day))
            .bind(Aggregation::Month as i16)
            .bind(expired(Aggregation::Month))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(db_error(object))
    }

    /// The stored points of `owner`'s series in the buckets of
    /// `aggregation` from the one holding `start` to the one holding `end`
    /// (buckets without samples are absent).
    pub async fn metrics(
        &self,
        owner: &str,
        aggregation: Aggregation,
        start: SystemTime,
        end: SystemTime,
    ) -> Result<Series, StorageError> {
        let rows: Vec<(i64, String, f64, i64)> = fetch!(
            self,
            fetch_all,
            "SELECT bucket, name, total, samples FROM metric \
             WHERE owner = $1 AND aggregation = $2 AND bucket >= $3 AND bucket <= $4",
            owner,
            aggregation as i16,
            aggregation.bucket_of(unix_secs(start)),
            aggregation.bucket_of(unix_secs(end)),
        )
        .map_err(db_error(Object::Table("metric")))?;
        let mut series = Series::new();
        for (bucket, name, sum, count) in rows {
            let point = Point {
                sum,
                count: u64::try_from(count).unwrap_or(0),
            };
            series.entry(bucket).or_default().insert(name, point);
        }
        Ok(series)
    }
}
