//! The pages the checks read: the course README in both languages,
//! `docs/README.md`, and every chapter of `docs/<language>/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use super::markdown::{self, Block, Marker, Parsed};

/// The walkthrough languages, one folder each under `docs/`.
pub const LANGUAGES: [&str; 2] = ["en", "ko"];

/// The course's front door, in the same two languages: English, and the
/// Korean one under the name Korean projects give it.
pub const COURSE_READMES: [&str; 2] = ["README.md", "README.ko.md"];

/// One Markdown file of the walkthroughs.
pub struct Page {
    /// Relative to the workspace root, with `/`: `docs/en/01-step1.md`.
    pub path: String,
    pub text: String,
    pub(super) parsed: Parsed,
}

impl Page {
    pub fn new(path: &str, text: String) -> Page {
        Page {
            path: path.to_string(),
            parsed: markdown::parse(&text),
            text,
        }
    }

    pub(super) fn at(&self, line: usize) -> String {
        format!("{}:{line}", self.path)
    }
}

/// The course READMEs, the walkthroughs' README and every chapter of both
/// languages.
pub struct Docs {
    pub pages: Vec<Page>,
}

impl Docs {
    /// Reads the course READMEs, `docs/README.md` and `docs/<language>/*.md`.
    /// A missing README is left for the checks to name.
    pub fn load(root: &Path) -> anyhow::Result<Docs> {
        let mut pages = Vec::new();
        for readme in COURSE_READMES.into_iter().chain(["docs/README.md"]) {
            if let Ok(text) = std::fs::read_to_string(root.join(readme)) {
                pages.push(Page::new(readme, text));
            }
        }
        for language in LANGUAGES {
            let folder = root.join("docs").join(language);
            let entries = std::fs::read_dir(&folder)
                .with_context(|| format!("cannot read {}", folder.display()))?;
            let mut names: Vec<String> = entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| name.ends_with(".md"))
                .collect();
            names.sort();
            for name in names {
                let path = format!("docs/{language}/{name}");
                let text = std::fs::read_to_string(root.join(&path))
                    .with_context(|| format!("cannot read {path}"))?;
                pages.push(Page::new(&path, text));
            }
        }
        Ok(Docs { pages })
    }

    pub(super) fn page(&self, path: &str) -> Option<&Page> {
        self.pages.iter().find(|page| page.path == path)
    }

    /// Chapter file names of one language, in order.
    pub(super) fn chapters(&self, language: &str) -> Vec<&str> {
        let prefix = format!("docs/{language}/");
        self.pages
            .iter()
            .filter_map(|page| page.path.strip_prefix(&prefix))
            .collect()
    }

    /// Chapter file names of either language, in order.
    pub(super) fn all_chapters(&self) -> BTreeSet<&str> {
        LANGUAGES
            .iter()
            .flat_map(|language| self.chapters(language))
            .collect()
    }

    /// The output blocks, with their pages, grouped by scenario.
    pub(super) fn outputs(&self) -> BTreeMap<&str, Vec<(&Page, &Block)>> {
        let mut outputs: BTreeMap<&str, Vec<(&Page, &Block)>> = BTreeMap::new();
        for page in &self.pages {
            for block in &page.parsed.blocks {
                if let Marker::Output(scenario) = &block.marker {
                    outputs.entry(scenario).or_default().push((page, block));
                }
            }
        }
        outputs
    }
}
