//! Command family `context` (part 3).

use crate::engine::dispatch::Entry;

/// This family's rows of the dispatch table.
pub(crate) const ENTRIES: &[Entry] = &[];
