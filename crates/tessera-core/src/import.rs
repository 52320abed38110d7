//! What every import from a file shares (`tessera legacy import`, `tessera account
//! import`): the rejected lines and the counts a plan reports, so the command line checks,
//! prints and aborts both the same way. Each import sorts its own rows into a plan (read
//! the store, write nothing) and writes the plan in one transaction.

/// A line that will not be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based line number in the file.
    pub line: usize,
    /// What the line is about, as written in the file (the email, the external id); never
    /// a secret or a hash.
    pub subject: String,
    pub reason: String,
}

/// How many lines of a plan create, change or leave records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub new: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What a dry run prints and a real run checks before it writes.
pub trait ImportSummary {
    fn counts(&self) -> ImportCounts;
    fn rejected(&self) -> &[Rejected];
}
