//! The shape of the walkthroughs: the same chapters in both languages,
//! each listed in `docs/README.md`, and every relative link resolving.

use std::collections::BTreeSet;

use super::pages::{Docs, LANGUAGES};
use super::{Outcome, Problem};

/// The same chapters in both languages, every one listed in the README, and
/// every relative link pointing at a file that exists.
pub fn check_layout(docs: &Docs, exists: &dyn Fn(&str) -> bool) -> Outcome {
    let mut problems = Vec::new();
    let chapters = docs.all_chapters();
    for language in LANGUAGES {
        let have = docs.chapters(language);
        for chapter in &chapters {
            if !have.contains(chapter) {
                let other = LANGUAGES
                    .iter()
                    .find(|other| **other != language)
                    .unwrap_or(&language);
                problems.push(Problem {
                    at: format!("docs/{language}"),
                    what: format!("{chapter} is missing, but docs/{other}/{chapter} exists"),
                });
            }
        }
    }
    if chapters.is_empty() {
        problems.push(Problem {
            at: "docs".to_string(),
            what: "no chapters in docs/en or docs/ko".to_string(),
        });
    }
    match docs.page("docs/README.md") {
        None => problems.push(Problem {
            at: "docs/README.md".to_string(),
            what: "missing: it links both languages and gives the chapter order".to_string(),
        }),
        Some(readme) => {
            let linked: BTreeSet<&str> = readme
                .parsed
                .links
                .iter()
                .map(|(_, target)| target.as_str())
                .collect();
            for language in LANGUAGES {
                for chapter in docs.chapters(language) {
                    let target = format!("{language}/{chapter}");
                    if !linked.contains(target.as_str()) {
                        problems.push(Problem {
                            at: readme.path.clone(),
                            what: format!("no link to {target}"),
                        });
                    }
                }
            }
        }
    }
    for page in &docs.pages {
        let folder = page.path.rsplit_once('/').map_or("", |(folder, _)| folder);
        for (line, target) in &page.parsed.links {
            let resolved = resolve(folder, target);
            if !exists(&resolved) {
                problems.push(Problem {
                    at: page.at(*line),
                    what: format!("the link {target} points at {resolved}, which does not exist"),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(format!(
            "{} chapters in both languages, all linked from docs/README.md; every relative link resolves",
            chapters.len()
        ))
    } else {
        Err(problems)
    }
}

/// `target` relative to `folder`, with `..` resolved: `docs/en` and
/// `../../step1-ws-only/src/main.rs` give `step1-ws-only/src/main.rs`.
fn resolve(folder: &str, target: &str) -> String {
    let mut parts: Vec<&str> = folder.split('/').filter(|part| !part.is_empty()).collect();
    for part in target.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}
