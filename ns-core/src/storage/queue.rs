//! The devices' downlink queues.

use std::time::SystemTime;

use lorawan::Eui64;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, write_error};
use super::rows::{QueueItemRow, db_eui, db_time, db_u32};
use super::tenancy::touched;
use super::{Storage, with_pool};
use crate::model::QueueItem;

/// The columns of [`QueueItemRow`].
macro_rules! queue_item_columns {
    () => {
        "id, dev_eui, created_at, f_port, confirmed, data, is_pending, f_cnt_down, \
         timeout_after, expires_at"
    };
}

/// Queue order: enqueue time, then insertion order (SQLite's rowid,
/// PostgreSQL's identity column) for items of the same microsecond.
macro_rules! queue_order {
    (sqlite) => {
        " ORDER BY created_at, rowid"
    };
    (postgres) => {
        " ORDER BY created_at, seq"
    };
}

impl Storage {
    /// Appends an item to its device's queue (the queue is in
    /// `created_at` order).
    ///
    /// [`StorageError::NotFound`] if the device does not exist,
    /// [`StorageError::AlreadyExists`] if the item's id is taken.
    pub async fn enqueue(&self, item: &QueueItem) -> Result<(), StorageError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO device_queue_item (id, dev_eui, created_at, f_port, confirmed, data, \
                 is_pending, f_cnt_down, timeout_after, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(item.id)
            .bind(db_eui(item.dev_eui))
            .bind(db_time(item.created_at))
            .bind(i16::from(item.f_port))
            .bind(item.confirmed)
            .bind(&item.data)
            .bind(item.is_pending)
            .bind(item.f_cnt_down.map(db_u32))
            .bind(item.timeout_after.map(db_time))
            .bind(item.expires_at.map(db_time))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(write_error(
            Object::QueueItem(item.id),
            Object::Device(item.dev_eui),
        ))?;
        Ok(())
    }

    /// The queue item with this id.
    pub async fn get_queue_item(&self, id: Uuid) -> Result<QueueItem, StorageError> {
        let row: QueueItemRow = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE id = $1"
            ))
            .bind(id)
            .fetch_one(pool)
            .await
        })
        .map_err(db_error(Object::QueueItem(id)))?;
        row.try_into()
    }

    /// A device's queue, in order (empty for an unknown device).
    pub async fn list_queue_items(&self, dev_eui: Eui64) -> Result<Vec<QueueItem>, StorageError> {
        let sql = self.dialect(
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE dev_eui = $1",
                queue_order!(sqlite)
            ),
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE dev_eui = $1",
                queue_order!(postgres)
            ),
        );
        let rows: Vec<QueueItemRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(db_eui(dev_eui)).fetch_all(pool).await
        })
        .map_err(db_error(Object::Device(dev_eui)))?;
        rows.into_iter().map(QueueItem::try_from).collect()
    }

    /// The first item of a device's queue that is neither pending nor
    /// expired at `now`: the next to send.
    pub async fn next_queue_item(
        &self,
        dev_eui: Eui64,
        now: SystemTime,
    ) -> Result<Option<QueueItem>, StorageError> {
        let sql = self.dialect(
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE dev_eui = $1 AND NOT is_pending \
                 AND (expires_at IS NULL OR expires_at > $2)",
                queue_order!(sqlite),
                " LIMIT 1"
            ),
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE dev_eui = $1 AND NOT is_pending \
                 AND (expires_at IS NULL OR expires_at > $2)",
                queue_order!(postgres),
                " LIMIT 1"
            ),
        );
        let row: Option<QueueItemRow> = with_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(db_eui(dev_eui))
                .bind(db_time(now))
                .fetch_optional(pool)
                .await
        })
        .map_err(db_error(Object::Device(dev_eui)))?;
        row.map(QueueItem::try_from).transpose()
    }

    /// Writes what sending changes in a queue item: `is_pending`,
    /// `f_cnt_down` and `timeout_after`.
    pub async fn update_queue_item(&self, item: &QueueItem) -> Result<(), StorageError> {
        let object = Object::QueueItem(item.id);
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE device_queue_item SET is_pending = $2, f_cnt_down = $3, \
                 timeout_after = $4 WHERE id = $1",
            )
            .bind(item.id)
            .bind(item.is_pending)
            .bind(item.f_cnt_down.map(db_u32))
            .bind(item.timeout_after.map(db_time))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(db_error(object))?;
        touched(done, object)
    }

    /// Deletes a queue item (sent, acknowledged, or dropped).
    pub async fn delete_queue_item(&self, id: Uuid) -> Result<(), StorageError> {
        let object = Object::QueueItem(id);
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM device_queue_item WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(db_error(object))?;
        touched(done, object)
    }

    /// Deletes the items of a device's queue that expired unsent by `now`
    /// and returns them in queue order, for the server to report.
    pub async fn delete_expired_queue_items(
        &self,
        dev_eui: Eui64,
        now: SystemTime,
    ) -> Result<Vec<QueueItem>, StorageError> {
        let rows: Vec<QueueItemRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "DELETE FROM device_queue_item WHERE dev_eui = $1 AND NOT is_pending \
                 AND expires_at <= $2 RETURNING ",
                queue_item_columns!()
            ))
            .bind(db_eui(dev_eui))
            .bind(db_time(now))
            .fetch_all(pool)
            .await
        })
        .map_err(db_error(Object::Device(dev_eui)))?;
        let mut items = rows
            .into_iter()
            .map(QueueItem::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING has no order; same-microsecond ties keep an arbitrary one.
        items.sort_by_key(|item| item.created_at);
        Ok(items)
    }

    /// Empties a device's queue; returns how many items were deleted.
    pub async fn flush_queue(&self, dev_eui: Eui64) -> Result<u64, StorageError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM device_queue_item WHERE dev_eui = $1")
                .bind(db_eui(dev_eui))
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(db_error(Object::Device(dev_eui)))
    }
}
