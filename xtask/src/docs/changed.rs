//! A step whose code no longer matches the chapters, as while a learner
//! does an exercise: found once, and named in one line instead of one
//! failure per block.

use super::ReadSource;
use super::blocks::compare_source;
use super::markdown::Marker;
use super::pages::Docs;
use super::regions::Selector;
use crate::course::{self, WayBack};
use crate::lang::Lang;

/// The file a source marker shows: `step1-ws-only/src/main.rs fn talk`
/// shows `step1-ws-only/src/main.rs`.
pub(super) fn shown_file(selector: &str) -> String {
    Selector::parse(selector).map_or_else(|_| selector.to_string(), |parsed| parsed.file)
}

/// A step folder whose code differs from what the chapters show.
pub struct ChangedStep {
    pub folder: &'static str,
    /// How many blocks show its code and differ from it.
    pub differing: usize,
}

impl ChangedStep {
    pub(super) fn holds(&self, file: &str) -> bool {
        file.strip_prefix(self.folder)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// Whether a scenario runs a program that this folder changes. A
    /// scenario is named for the steps it runs (`step2-against-step3`);
    /// one that names none may run any.
    pub(super) fn runs_in(&self, scenario: &str) -> bool {
        let named: Vec<&str> = course::STEP_FOLDERS
            .iter()
            .map(|(package, _)| *package)
            .filter(|package| scenario.contains(package))
            .collect();
        named.is_empty()
            || course::packages_using(self.folder)
                .iter()
                .any(|package| named.contains(package))
    }

    /// The one line that stands for all the blocks and outputs left out.
    pub(super) fn describe(&self, outputs: usize, lang: Lang) -> String {
        let folder = self.folder;
        let differing = self.differing;
        let way_back = match WayBack::of(folder) {
            WayBack::Command(command) => lang.pick(
                format!("Changed it for an exercise? `{command}` goes back."),
                format!("실습 때문에 고쳤다면 `{command}` 로 되돌릴 수 있습니다."),
            ),
            other => other.sentence(folder, lang) + ".",
        };
        lang.pick(
            format!(
                "{folder} differs from the course: {differing} code block(s) in the chapters \
                 show other code, so its blocks and {outputs} output(s) of runs that use it are \
                 not compared. {way_back} Meant for the course? Run `cargo xtask docs sync`."
            ),
            format!(
                "{folder} 가 강의와 다릅니다. 장들의 코드 블록 {differing}개가 지금과 다른 코드를 \
                 보여 주므로, 이 폴더의 블록과 이 폴더를 쓰는 실행 결과 {outputs}개는 비교하지 \
                 않았습니다. {way_back} 강의 자체를 고친 것이라면 `cargo xtask docs sync` 를 \
                 실행하세요."
            ),
        )
    }
}

/// The step folders with at least one source block that no longer matches
/// the code.
pub fn changed_steps(docs: &Docs, read_source: ReadSource) -> Vec<ChangedStep> {
    let mut changed = Vec::new();
    for (_, folder) in course::STEP_FOLDERS {
        let mut step = ChangedStep {
            folder,
            differing: 0,
        };
        for page in &docs.pages {
            for block in &page.parsed.blocks {
                let Marker::Source(selector) = &block.marker else {
                    continue;
                };
                if step.holds(&shown_file(selector))
                    && compare_source(selector, block, read_source).is_err()
                {
                    step.differing += 1;
                }
            }
        }
        if step.differing > 0 {
            changed.push(step);
        }
    }
    changed
}
