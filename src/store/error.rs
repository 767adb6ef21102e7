//! Why the state store refused a write.

/// Why a write was refused by the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("state store: {0}")]
    Db(#[from] sqlx::Error),
    /// `If-Match` / `If-None-Match` did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// Another member of the collection has the same UID (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
    #[error("the UID is already used by {0}")]
    UidConflict(String),
    /// The target does not exist.
    #[error("not found")]
    NotFound,
    /// The target already exists.
    #[error("already exists")]
    Exists,
    /// The parent collection does not exist.
    #[error("the parent collection does not exist")]
    NoParent,
}
