//! The walkthroughs under `docs/` checked against the code (issue: docs).
pub const NAME: &str = "docs";
