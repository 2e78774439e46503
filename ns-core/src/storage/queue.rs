//! The devices' downlink queues.

use std::collections::HashMap;
use std::time::SystemTime;

use lorawan::Eui64;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error, write_error};
use super::rows::{QueueItemRow, db_eui, db_time, db_u32};
use super::{Storage, execute, execute_by_key, fetch, with_pool};
use crate::model::QueueItem;

/// The columns of [`QueueItemRow`].
macro_rules! queue_item_columns {
    () => {
        "id, dev_eui, created_at, f_port, confirmed, data, is_pending, f_cnt_down, \
         timeout_after, expires_at"
    };
}

/// The text, for this backend, of a `SELECT` of the queue items
/// `WHERE $filter` in queue order, followed by `$tail`.
///
/// Queue order: enqueue time, then insertion order (SQLite's rowid,
/// PostgreSQL's identity column) for items of the same microsecond.
macro_rules! select_queue_items {
    ($storage:expr, $filter:literal $(, $tail:literal)?) => {
        $storage.dialect(
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE ",
                $filter,
                " ORDER BY created_at, rowid"
                $(, $tail)?
            ),
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE ",
                $filter,
                " ORDER BY created_at, seq"
                $(, $tail)?
            ),
        )
    };
}

impl Storage {
    /// Appends an item to its device's queue (the queue is in
    /// `created_at` order).
    ///
    /// [`StorageError::NotFound`] if the device does not exist,
    /// [`StorageError::AlreadyExists`] if the item's id is taken.
    pub async fn enqueue(&self, item: &QueueItem) -> Result<(), StorageError> {
        execute!(
            self,
            concat!(
                "INSERT INTO device_queue_item (",
                queue_item_columns!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            item.id,
            db_eui(item.dev_eui),
            db_time(item.created_at),
            i16::from(item.f_port),
            item.confirmed,
            &item.data,
            item.is_pending,
            item.f_cnt_down.map(db_u32),
            item.timeout_after.map(db_time),
            item.expires_at.map(db_time),
        )
        .map_err(write_error(
            Object::QueueItem(item.id),
            Object::Device(item.dev_eui),
        ))?;
        Ok(())
    }

    /// The queue item with this id.
    pub async fn get_queue_item(&self, id: Uuid) -> Result<QueueItem, StorageError> {
        let row: QueueItemRow = fetch!(
            self,
            fetch_one,
            concat!(
                "SELECT ",
                queue_item_columns!(),
                " FROM device_queue_item WHERE id = $1"
            ),
            id,
        )
        .map_err(db_error(Object::QueueItem(id)))?;
        row.try_into()
    }

    /// A device's queue, in order (empty for an unknown device).
    pub async fn list_queue_items(&self, dev_eui: Eui64) -> Result<Vec<QueueItem>, StorageError> {
        let mut queues = self.list_queue_items_of(&[dev_eui]).await?;
        Ok(queues.remove(&dev_eui).unwrap_or_default())
    }

    /// The queues of several devices in one query, each in order (an
    /// unknown device has an empty queue): the uplink path reads the
    /// queues of the frames it answers together.
    pub async fn list_queue_items_of(
        &self,
        dev_euis: &[Eui64],
    ) -> Result<HashMap<Eui64, Vec<QueueItem>>, StorageError> {
        let mut out: HashMap<Eui64, Vec<QueueItem>> = HashMap::new();
        if dev_euis.is_empty() {
            return Ok(out);
        }
        let placeholders = self.placeholders(dev_euis.len());
        let order = self.dialect("rowid", "seq");
        let sql = format!(
            "SELECT {} FROM device_queue_item WHERE dev_eui IN ({placeholders}) \
             ORDER BY created_at, {order}",
            queue_item_columns!()
        );
        let rows: Vec<QueueItemRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for eui in dev_euis {
                query = query.bind(db_eui(*eui));
            }
            query.fetch_all(pool).await
        })
        .map_err(db_error(Object::Table("device_queue_item")))?;
        for row in rows {
            let item = QueueItem::try_from(row)?;
            out.entry(item.dev_eui).or_default().push(item);
        }
        Ok(out)
    }

    /// The first item of a device's queue that is neither pending nor
    /// expired at `now`: the next to send.
    pub async fn next_queue_item(
        &self,
        dev_eui: Eui64,
        now: SystemTime,
    ) -> Result<Option<QueueItem>, StorageError> {
        let sql = select_queue_items!(
            self,
            "dev_eui = $1 AND NOT is_pending AND (expires_at IS NULL OR expires_at > $2)",
            " LIMIT 1"
        );
        let row: Option<QueueItemRow> =
            fetch!(self, fetch_optional, sql, db_eui(dev_eui), db_time(now))
                .map_err(db_error(Object::Device(dev_eui)))?;
        row.map(QueueItem::try_from).transpose()
    }

    /// Writes what sending changes in a queue item: `is_pending`,
    /// `f_cnt_down` and `timeout_after`.
    pub async fn update_queue_item(&self, item: &QueueItem) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::QueueItem(item.id),
            "UPDATE device_queue_item SET is_pending = $2, f_cnt_down = $3, \
             timeout_after = $4 WHERE id = $1",
            item.id,
            item.is_pending,
            item.f_cnt_down.map(db_u32),
            item.timeout_after.map(db_time),
        )
    }

    /// Deletes a queue item (sent, acknowledged, or dropped).
    pub async fn delete_queue_item(&self, id: Uuid) -> Result<(), StorageError> {
        execute_by_key!(
            self,
            Object::QueueItem(id),
            "DELETE FROM device_queue_item WHERE id = $1",
            id
        )
    }

    /// Deletes the items of a device's queue that expired unsent by `now`
    /// and returns them in queue order, for the server to report.
    pub async fn delete_expired_queue_items(
        &self,
        dev_eui: Eui64,
        now: SystemTime,
    ) -> Result<Vec<QueueItem>, StorageError> {
        let rows: Vec<QueueItemRow> = fetch!(
            self,
            fetch_all,
            concat!(
                "DELETE FROM device_queue_item WHERE dev_eui = $1 AND NOT is_pending \
                 AND expires_at <= $2 RETURNING ",
                queue_item_columns!()
            ),
            db_eui(dev_eui),
            db_time(now),
        )
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
        execute!(
            self,
            "DELETE FROM device_queue_item WHERE dev_eui = $1",
            db_eui(dev_eui),
        )
        .map_err(db_error(Object::Device(dev_eui)))
    }
}
