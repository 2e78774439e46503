//! Lists as the management API pages through them: a scope (a tenant's, an
//! application's), a search on names, an order, one page, and the number of
//! matches in all.
//!
//! One mechanism serves every list: [`Listing`] assembles the `WHERE`
//! clause from the scope and the search, and runs the page and the count
//! with the same filters. The column and order texts are fixed by the
//! caller (never from input); input only ever arrives as bound parameters.

use sqlx::AssertSqlSafe;
use uuid::Uuid;

use super::error::{Object, StorageError, db_error};
use super::{Backend, Storage, with_pool};

/// Which page of a list, searched and ordered how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// At most this many items (0: none; only the count).
    pub limit: u32,
    /// Skip this many matches first.
    pub offset: u32,
    /// Only items whose name contains this text, ignoring case (for devices
    /// and gateways, or whose EUI does, in hex); empty: all.
    pub search: String,
    /// The sort key.
    pub order_by: OrderBy,
    /// Largest first.
    pub descending: bool,
}

impl ListQuery {
    /// The page of `limit` items from the `offset`th, by name.
    pub fn page(limit: u32, offset: u32) -> Self {
        Self {
            limit,
            offset,
            ..Self::default()
        }
    }

    /// The same, searching for `search`.
    pub fn search(mut self, search: impl Into<String>) -> Self {
        self.search = search.into();
        self
    }

    /// The same, ordered by `order_by`.
    pub fn order_by(mut self, order_by: OrderBy, descending: bool) -> Self {
        self.order_by = order_by;
        self.descending = descending;
        self
    }
}

/// The sort key of a list. Keys a list does not have fall back to the name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrderBy {
    /// The name (email for users).
    #[default]
    Name,
    /// The identifier (DevEUI, gateway id).
    Id,
    /// The last time it was heard from (never-seen items first).
    LastSeen,
    /// The name of the device's profile.
    DeviceProfileName,
}

/// One page of a list and how many items match in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The number of matches, regardless of the page.
    pub total: u64,
    /// The page's items.
    pub items: Vec<T>,
}

impl<T> Page<T> {
    /// The same page with each item converted.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            total: self.total,
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
        })
    }
}

/// The `LIKE` pattern (with `ESCAPE '\\'`) of the names containing
/// `search`, lower-cased, its `%`, `_` and `\\` taken literally.
pub(super) fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A bound parameter of a list's filters.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Uuid(Uuid),
    Text(String),
    Bool(bool),
}

/// The sort keys a list offers, as column expressions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Orders {
    /// The name column (always offered).
    pub name: &'static str,
    /// The identifier column, a unique tie-breaker for every order.
    pub id: &'static str,
    /// The last-seen column, if the list has one.
    pub last_seen: Option<&'static str>,
    /// The device profile name column, if the list has one.
    pub profile_name: Option<&'static str>,
}

/// A list being assembled: `SELECT {columns} FROM {from} WHERE ...`.
pub(super) struct Listing {
    columns: &'static str,
    from: &'static str,
    narrow: Option<&'static str>,
    orders: Orders,
    object: Object,
    filters: Vec<String>,
    args: Vec<Arg>,
}

impl Listing {
    /// A list of `columns` from `from` (a table with its alias, and joins),
    /// failures named as about `object`.
    pub(super) fn new(
        columns: &'static str,
        from: &'static str,
        orders: Orders,
        object: Object,
    ) -> Self {
        Self {
            columns,
            from,
            narrow: None,
            orders,
            object,
            filters: Vec::new(),
            args: Vec::new(),
        }
    }

    /// Counts and pages over `table` alone (`device d`), then reads the
    /// page's rows through `from` by the id column: for a `from` with joins
    /// the filters and the order (but the profile name) do not need. The
    /// count and the skipped rows of a deep page then come from an index,
    /// not from the wide joined rows.
    pub(super) fn narrow(mut self, table: &'static str) -> Self {
        self.narrow = Some(table);
        self
    }

    /// Adds the condition `column = <value>`.
    pub(super) fn eq(mut self, column: &'static str, value: Arg) -> Self {
        self.args.push(value);
        self.filters
            .push(format!("{column} = ${}", self.args.len()));
        self
    }

    /// Adds `condition`, with `$?` standing for `value`'s parameter.
    pub(super) fn filter(mut self, condition: &'static str, value: Arg) -> Self {
        self.args.push(value);
        let n = self.args.len();
        self.filters.push(condition.replace("$?", &format!("${n}")));
        self
    }

    /// Adds the search of `query` over `columns` (text columns, searched
    /// case-insensitively for the text as given) and `hex_columns` (byte
    /// columns, searched as lower-case hex).
    pub(super) fn search(
        mut self,
        backend: Backend,
        query: &ListQuery,
        columns: &[&'static str],
        hex_columns: &[&'static str],
    ) -> Self {
        if query.search.is_empty() {
            return self;
        }
        self.args.push(Arg::Text(like_pattern(&query.search)));
        let n = self.args.len();
        let like = |expr: String| format!("{expr} LIKE ${n} ESCAPE '\\'");
        // SQLite's LIKE ignores the case of ASCII letters and its lower()
        // folds those only: the column as it is matches the same rows,
        // without a function call per row. PostgreSQL's LIKE is
        // case-sensitive; its trigram indexes (migration 0006) are on these
        // very expressions.
        let mut alternatives: Vec<String> = columns
            .iter()
            .map(|c| {
                like(match backend {
                    Backend::Sqlite => (*c).to_owned(),
                    Backend::Postgres => format!("lower({c})"),
                })
            })
            .collect();
        for c in hex_columns {
            alternatives.push(like(match backend {
                Backend::Sqlite => format!("hex({c})"),
                Backend::Postgres => format!("encode({c}, 'hex')"),
            }));
        }
        self.filters
            .push(format!("({})", alternatives.join(" OR ")));
        self
    }

    fn where_clause(&self) -> String {
        if self.filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.filters.join(" AND "))
        }
    }

    fn order_clause(&self, query: &ListQuery) -> String {
        let o = &self.orders;
        let key = match query.order_by {
            OrderBy::Name => o.name,
            OrderBy::Id => o.id,
            OrderBy::LastSeen => o.last_seen.unwrap_or(o.name),
            OrderBy::DeviceProfileName => o.profile_name.unwrap_or(o.name),
        };
        let dir = if query.descending { "DESC" } else { "ASC" };
        let id = o.id;
        if key == id {
            // The id alone: repeating it as its own tie-breaker makes
            // SQLite sort the page in a temporary B-tree instead of reading
            // it from the index in order.
            format!(" ORDER BY {id} {dir}")
        } else if query.order_by == OrderBy::LastSeen && o.last_seen.is_some() {
            // Never seen first ascending, last descending, on both backends
            // (SQLite's natural order, PostgreSQL's with the index that
            // says so): the index gives the page.
            let nulls = if query.descending { "LAST" } else { "FIRST" };
            format!(" ORDER BY {key} {dir} NULLS {nulls}, {id} {dir}")
        } else {
            format!(" ORDER BY {key} {dir}, {id} {dir}")
        }
    }

    /// Runs the count and the page.
    pub(super) async fn run<R>(
        self,
        storage: &Storage,
        query: &ListQuery,
    ) -> Result<Page<R>, StorageError>
    where
        R: Send + Unpin,
        R: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let where_clause = self.where_clause();
        let n = self.args.len();
        let order = self.order_clause(query);
        let narrow = self.narrow.filter(|_| {
            query.order_by != OrderBy::DeviceProfileName || self.orders.profile_name.is_none()
        });
        let count_sql = format!(
            "SELECT count(*) FROM {}{where_clause}",
            narrow.unwrap_or(self.from)
        );
        let page_sql = match narrow {
            // The page's ids from the narrow table (an index scan), then
            // their rows, in the same order.
            Some(table) => format!(
                "SELECT {columns} FROM {from} WHERE {id} IN (SELECT {id} FROM {table}{where_clause}{order} \
                 LIMIT ${l} OFFSET ${o}){order}",
                columns = self.columns,
                from = self.from,
                id = self.orders.id,
                l = n + 1,
                o = n + 2,
            ),
            None => format!(
                "SELECT {} FROM {}{where_clause}{order} LIMIT ${} OFFSET ${}",
                self.columns,
                self.from,
                n + 1,
                n + 2
            ),
        };
        let (limit, offset) = super::page(query.limit, query.offset);
        let args = &self.args;
        let (total, items): (i64, Vec<R>) = with_pool!(storage, pool => {
            let mut count = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
            let mut page = sqlx::query_as::<_, R>(AssertSqlSafe(page_sql));
            for arg in args {
                (count, page) = match arg {
                    Arg::Uuid(v) => (count.bind(*v), page.bind(*v)),
                    Arg::Text(v) => (count.bind(v.clone()), page.bind(v.clone())),
                    Arg::Bool(v) => (count.bind(*v), page.bind(*v)),
                };
            }
            // The count and the page on two connections at once: a page
            // takes the longer of the two, not their sum (with a pool of
            // one, they simply take turns).
            let page = async {
                if query.limit == 0 {
                    Ok(Vec::new())
                } else {
                    page.bind(limit).bind(offset).fetch_all(pool).await
                }
            };
            match tokio::join!(count.fetch_one(pool), page) {
                (Ok(total), Ok(items)) => Ok((total, items)),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        })
        .map_err(db_error(self.object))?;
        Ok(Page {
            total: u64::try_from(total).unwrap_or(0),
            items,
        })
    }
}
