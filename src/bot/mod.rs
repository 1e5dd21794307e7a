//! The built-in bot. So far: its knowledge base (format, loading, validation). The
//! matching, greeting and handoff logic that answer customers from it come next.

pub mod knowledge;
