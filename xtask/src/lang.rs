//! The language of the messages that `cargo xtask exercise` and
//! `cargo xtask verify` print for the learner: Korean or English.
//!
//! `--lang ko` or `--lang en` chooses; without it the locale does, as it
//! does for other programs: the first of `LC_ALL`, `LC_MESSAGES` and `LANG`
//! that is set, Korean when it starts with `ko` (`ko_KR.UTF-8`).

use anyhow::bail;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    /// The language the environment asks for.
    pub fn from_env() -> Lang {
        let chosen = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|value| !value.is_empty());
        Lang::from_locale(chosen.as_deref().unwrap_or_default())
    }

    /// `ko_KR.UTF-8` or `ko` give Korean; anything else English.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("ko") {
            Lang::Ko
        } else {
            Lang::En
        }
    }

    /// The value of `--lang`.
    pub fn parse(value: &str) -> anyhow::Result<Lang> {
        match value {
            "ko" => Ok(Lang::Ko),
            "en" => Ok(Lang::En),
            other => bail!("--lang takes ko or en, not `{other}`"),
        }
    }

    /// Takes `--lang X` out of `args`, or asks the environment.
    pub fn take_from(args: &mut Vec<String>) -> anyhow::Result<Lang> {
        let Some(at) = args.iter().position(|arg| arg == "--lang") else {
            return Ok(Lang::from_env());
        };
        let Some(value) = args.get(at + 1).cloned() else {
            bail!("--lang needs a value: ko or en");
        };
        args.drain(at..=at + 1);
        Lang::parse(&value)
    }

    /// One of two texts: the English one or the Korean one.
    pub fn pick<T>(self, en: T, ko: T) -> T {
        match self {
            Lang::En => en,
            Lang::Ko => ko,
        }
    }

    /// The walkthroughs' folder for this language: `docs/en` or `docs/ko`.
    pub fn docs_folder(self) -> &'static str {
        self.pick("docs/en", "docs/ko")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_korean_locale_gives_korean_and_lang_overrides_it() {
        assert_eq!(Lang::from_locale("ko_KR.UTF-8"), Lang::Ko);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale("C.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        let mut args = vec!["3".to_string(), "--lang".to_string(), "ko".to_string()];
        assert_eq!(Lang::take_from(&mut args).unwrap(), Lang::Ko);
        assert_eq!(args, ["3"]);
        let mut wrong = vec!["--lang".to_string(), "fr".to_string()];
        assert!(Lang::take_from(&mut wrong).is_err());
    }
}
