//! Encoding of records stored in the `StateStore`: JSON, so that fields can be added without a
//! migration (unknown fields are ignored, missing ones default) and rows stay inspectable.

use kumo_driver_api::state_store::Table;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// Encodes a record.
pub fn encode<T: Serialize>(table: Table, value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| Error::Corrupt {
        table,
        detail: e.to_string(),
    })
}

/// Decodes a record.
pub fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
        table,
        detail: e.to_string(),
    })
}

/// Runs blocking state-store work off the async runtime's worker threads.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}
