//! Headless Chromium, driven over the DevTools protocol (issue: browser checks).
pub const NAME: &str = "browser";
