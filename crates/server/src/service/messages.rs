//! Reading message pages, converted to the format the caller asked for.

use threadhold_domain::formats::convert_for_read;
use threadhold_domain::model::Message;
use threadhold_store::{ReadScope, Store, StoreResult};

/// A page of a thread's messages in the contract's order. With `format`, rows
/// in a compatible format are converted to it (and say so in their `format`);
/// others come back as stored. A row that cannot be converted is left out with
/// a warning, and the page is filled from the rows after it: the client takes
/// a short page for the last one, so a skipped row must not end the history.
pub async fn page(
    store: &dyn Store,
    scope: &ReadScope,
    thread_id: &str,
    after: Option<&str>,
    limit: u32,
    format: Option<&str>,
) -> StoreResult<Vec<Message>> {
    let Some(requested) = format else {
        return store.list_messages(scope, thread_id, after, limit).await;
    };
    let mut page = Vec::new();
    let mut cursor = after.map(str::to_owned);
    loop {
        let wanted = limit - page.len() as u32;
        let rows = store.list_messages(scope, thread_id, cursor.as_deref(), wanted).await?;
        let exhausted = (rows.len() as u32) < wanted;
        cursor = rows.last().map(|row| row.id.clone());
        for mut row in rows {
            match convert_for_read(&row.format, requested, &row.content) {
                Ok(None) => page.push(row),
                Ok(Some(content)) => {
                    row.content = content;
                    row.format = requested.to_owned();
                    page.push(row);
                }
                Err(error) => tracing::warn!(
                    thread_id,
                    message_id = %row.id,
                    stored = %row.format,
                    requested,
                    %error,
                    "message left out of a converted read"
                ),
            }
        }
        if exhausted || page.len() as u32 >= limit || cursor.is_none() {
            return Ok(page);
        }
    }
}
