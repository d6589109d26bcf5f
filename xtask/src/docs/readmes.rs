//! The course README in English (`README.md`) and in Korean
//! (`README.ko.md`): each links to the other, and both have the same
//! sections, the same code blocks and the same commands, as a chapter's two
//! languages do. The READMEs' blocks carry no markers: they show commands
//! to type, so both copies must show the very same ones.

use super::chapters::{compare_commands, compare_structure_by, inline_commands};
use super::markdown::Block;
use super::pages::{COURSE_READMES, Docs};
use super::{Outcome, Problem};

pub fn check_readmes(docs: &Docs) -> Outcome {
    let [english, korean] = COURSE_READMES;
    let (Some(first), Some(second)) = (docs.page(english), docs.page(korean)) else {
        let missing: Vec<&str> = COURSE_READMES
            .into_iter()
            .filter(|path| docs.page(path).is_none())
            .collect();
        return Err(vec![Problem {
            at: missing.join(", "),
            what: "missing: the course's README is written in English (README.md) and in \
                   Korean (README.ko.md), each linking to the other"
                .to_string(),
        }]);
    };
    let mut problems = Vec::new();
    for (page, other) in [(first, korean), (second, english)] {
        if !page.parsed.links.iter().any(|(_, target)| target == other) {
            problems.push(Problem {
                at: page.path.clone(),
                what: format!(
                    "no link to {other}: put one at the top, for readers of the other language"
                ),
            });
        }
    }
    // A README's blocks are commands to type: the very same in both.
    let whole = |block: &Block| format!("{}: {}", block.language, block.body.join("⏎"));
    problems.extend(compare_structure_by(first, second, whole));
    problems.extend(compare_commands(first, second));
    if problems.is_empty() {
        Ok(format!(
            "{english} and {korean} link to each other and have the same headings ({}), code blocks ({}) and commands ({})",
            first.parsed.headings.len(),
            first.parsed.blocks.len(),
            inline_commands(first).len()
        ))
    } else {
        Err(problems)
    }
}
