//! What the learner has passed, kept across runs: a passed exercise stays
//! done after the step is restored for the next one. The file lives in the
//! workspace's `target/` folder, which git ignores, one line per exercise:
//! its number and when it passed (seconds since 1970, UTC). Deleting it
//! starts over; `cargo xtask exercise --all` checks everything again.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::steps::workspace_root;

/// The passed exercises, each with the moment it passed.
#[derive(Debug, Default, PartialEq)]
pub struct Progress {
    passed: Vec<(u8, u64)>,
}

/// Where the progress is kept.
pub fn default_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("exercise-progress.txt")
}

const HEADING: &str =
    "# cargo xtask exercise: each passed exercise and when (seconds since 1970, UTC)";

impl Progress {
    /// The progress in `path`; none when there is no file yet. Lines that
    /// do not read as progress are left out.
    pub fn load(path: &Path) -> Progress {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let passed = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (number, when) = line.split_once(' ')?;
                Some((number.parse().ok()?, when.trim().parse().ok()?))
            })
            .collect();
        Progress { passed }
    }

    /// Writes it to `path`; a progress that cannot be kept is not worth
    /// failing a check for, so the caller may ignore the error.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        let mut text = format!("{HEADING}\n");
        for (number, when) in &self.passed {
            text.push_str(&format!("{number} {when}\n"));
        }
        std::fs::write(path, text)
    }

    /// When `number` passed, if it has.
    pub fn passed(&self, number: u8) -> Option<u64> {
        self.passed
            .iter()
            .find(|(passed, _)| *passed == number)
            .map(|(_, when)| *when)
    }

    /// Notes that `number` passed now; the first pass is kept.
    pub fn record(&mut self, number: u8) {
        if self.passed(number).is_none() {
            self.passed.push((number, now()));
            self.passed.sort();
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or_default()
}

/// `2026-12-01 09:40 UTC`, for "done on ...".
pub fn date(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let minutes = seconds % 86_400 / 60;
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian
    // calendar), by eras of 400 years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02} UTC",
        minutes / 60,
        minutes % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_survives_a_save_and_a_load_and_keeps_the_first_pass() {
        let path = std::env::temp_dir().join(format!("xtask-progress-{}.txt", std::process::id()));
        let _ = std::fs::remove_file(&path);
        assert_eq!(Progress::load(&path), Progress::default());
        let mut progress = Progress::load(&path);
        progress.record(3);
        progress.record(1);
        let first = progress.passed(3).unwrap();
        progress.save(&path).unwrap();
        let mut again = Progress::load(&path);
        assert_eq!(again, progress);
        again.record(3);
        assert_eq!(again.passed(3), Some(first));
        assert_eq!(again.passed(2), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn dates_are_civil_dates_in_utc() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(date(1_764_581_400), "2025-12-01 09:30 UTC");
    }
}
