//! Regions of source files, named the way a reader thinks of them: a whole
//! file, an item (`fn talk`, `const GREETING`), a statement inside an item,
//! or the lines between two patterns.
//!
//! Items are found by their declaration, not by line numbers or anchor
//! comments, so a region survives edits elsewhere in the file. The comments
//! and attributes right above an item or statement belong to it.

use anyhow::{Context, bail};

/// Where a code block's text comes from, as written in its marker:
///
/// - `step1-ws-only/Cargo.toml`: the whole file;
/// - `step1-ws-only/src/main.rs fn check_upgrade`: one item;
/// - `step3-combined/src/main.rs fn run statement "let page ="`: the
///   statement that starts on the first line containing the text;
/// - `step2-html-client/index.html lines "<script>" "</script>"`: from the
///   first line containing one text to the next line containing the other.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    pub file: String,
    item: Option<(String, String)>,
    part: Part,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Whole,
    Statement(String),
    Lines(String, String),
}

/// The kinds of item a selector can name.
const ITEM_KINDS: &[&str] = &[
    "fn", "const", "static", "struct", "enum", "impl", "trait", "type", "mod",
];

/// Items whose body is a `{ ... }` block: the closing brace ends them.
/// The others (`const`, `static`, `type`) end at their `;`.
const BLOCK_ITEMS: &[&str] = &["fn", "struct", "enum", "impl", "trait", "mod"];

impl Selector {
    pub fn parse(text: &str) -> anyhow::Result<Selector> {
        let words = split_words(text)?;
        let mut words = words.iter().map(String::as_str);
        let file = words
            .next()
            .context("the marker names no file")?
            .to_string();
        let mut item = None;
        let mut part = Part::Whole;
        while let Some(word) = words.next() {
            match word {
                "statement" => {
                    let start = words.next().context("`statement` needs a quoted text")?;
                    part = Part::Statement(start.to_string());
                }
                "lines" => {
                    let start = words.next().context("`lines` needs two quoted texts")?;
                    let end = words.next().context("`lines` needs two quoted texts")?;
                    part = Part::Lines(start.to_string(), end.to_string());
                }
                kind if ITEM_KINDS.contains(&kind) => {
                    let name = words
                        .next()
                        .with_context(|| format!("`{kind}` needs a name"))?;
                    item = Some((kind.to_string(), name.to_string()));
                }
                other => bail!(
                    "`{other}` is not understood: after the file come an item (fn NAME, const NAME, ...), \
                     statement \"TEXT\" or lines \"START\" \"END\""
                ),
            }
        }
        Ok(Selector { file, item, part })
    }

    /// The region's lines in `source`, without their common indent.
    pub fn extract(&self, source: &str) -> anyhow::Result<Vec<String>> {
        let lines: Vec<&str> = source.lines().collect();
        let code = CodeMap::new(source);
        let mut range = 0..lines.len();
        if let Some((kind, name)) = &self.item {
            let start = (0..lines.len())
                .find(|&index| code.starts_as_code(index) && declares(lines[index], kind, name))
                .with_context(|| format!("{} has no `{kind} {name}`", self.file))?;
            let end = code
                .end_of(start, BLOCK_ITEMS.contains(&kind.as_str()))
                .with_context(|| format!("`{kind} {name}` has no end in {}", self.file))?;
            range = with_comments_above(&lines, start)..end + 1;
        }
        match &self.part {
            Part::Whole => {}
            Part::Statement(text) => {
                let start = range
                    .clone()
                    .find(|&index| code.starts_as_code(index) && lines[index].contains(text))
                    .with_context(|| format!("no line with {text:?} in the region"))?;
                // A `let` ends only at its `;`; other statements may be a
                // match arm or a field, which end at a comma.
                let comma_ends = !lines[start].trim_start().starts_with("let ");
                let end = code
                    .end_of_statement(start, range.end, comma_ends)
                    .with_context(|| format!("the statement at {text:?} has no end"))?;
                range = with_comments_above(&lines, start)..end + 1;
            }
            Part::Lines(first, last) => {
                let start = range
                    .clone()
                    .find(|&index| lines[index].contains(first))
                    .with_context(|| format!("no line with {first:?} in the region"))?;
                let end = (start..range.end)
                    .find(|&index| lines[index].contains(last))
                    .with_context(|| format!("no line with {last:?} after {first:?}"))?;
                range = start..end + 1;
            }
        }
        Ok(dedent(&lines[range]))
    }
}

/// Splits a marker into words; a text in double quotes is one word.
fn split_words(text: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').context("a quote is not closed")?;
            words.push(quoted[..end].to_string());
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    Ok(words)
}

/// Whether `line` declares the item `kind name`, with any visibility and
/// qualifiers (`pub(crate) async fn name`, `impl<T> Name`).
fn declares(line: &str, kind: &str, name: &str) -> bool {
    let mut rest = line.trim_start();
    const QUALIFIERS: &[&str] = &[
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "async ",
        "unsafe ",
        "extern \"C\" ",
    ];
    while let Some(stripped) = QUALIFIERS.iter().find_map(|q| rest.strip_prefix(q)) {
        rest = stripped;
    }
    if kind == "fn" {
        rest = rest.strip_prefix("const ").unwrap_or(rest);
    }
    let Some(rest) = rest.strip_prefix(kind) else {
        return false;
    };
    // `impl<T> Name`: skip the generic parameters.
    let rest = match rest.strip_prefix('<') {
        Some(generics) => generics.split_once('>').map_or("", |(_, after)| after),
        None => rest,
    };
    let Some(rest) = rest.strip_prefix(' ') else {
        return false;
    };
    rest.strip_prefix(name)
        .is_some_and(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// Moves `start` up over the comments and attributes right above it.
fn with_comments_above(lines: &[&str], start: usize) -> usize {
    let mut first = start;
    while first > 0 {
        let above = lines[first - 1].trim_start();
        let attached =
            (above.starts_with("//") && !above.starts_with("//!")) || above.starts_with("#[");
        if !attached {
            break;
        }
        first -= 1;
    }
    first
}

/// Removes the indent that all non-blank lines share, and trailing spaces.
pub fn dedent(lines: &[&str]) -> Vec<String> {
    let indent = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|line| {
            line.get(indent..)
                .unwrap_or_default()
                .trim_end()
                .to_string()
        })
        .collect()
}

/// Which bytes of a Rust source are code, as opposed to comments, strings
/// and character literals, so that a `{` in `"{name}"` or in a comment does
/// not count as a brace.
struct CodeMap<'a> {
    text: &'a str,
    is_code: Vec<bool>,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> CodeMap<'a> {
    fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut is_code = vec![true; bytes.len()];
        let mut index = 0;
        while index < bytes.len() {
            let skipped = match bytes[index] {
                b'/' if bytes.get(index + 1) == Some(&b'/') => {
                    text[index..].find('\n').unwrap_or(bytes.len() - index)
                }
                b'/' if bytes.get(index + 1) == Some(&b'*') => {
                    block_comment_length(&bytes[index..])
                }
                b'"' => quoted_length(&bytes[index..]),
                b'r' if !follows_identifier(bytes, index) => raw_string_length(&bytes[index..]),
                b'b' if !follows_identifier(bytes, index)
                    && bytes.get(index + 1) == Some(&b'r') =>
                {
                    match raw_string_length(&bytes[index + 1..]) {
                        0 => 0,
                        length => length + 1,
                    }
                }
                b'\'' => char_literal_length(&text[index..]),
                _ => 0,
            };
            if skipped > 0 {
                is_code[index..index + skipped].fill(false);
                index += skipped;
            } else {
                index += 1;
            }
        }
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        CodeMap {
            text,
            is_code,
            line_starts,
        }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }

    /// Whether the first non-blank character of a line is code.
    fn starts_as_code(&self, line: usize) -> bool {
        let start = self.line_starts[line];
        let text = &self.text[start..];
        let indent = text.len() - text.trim_start_matches([' ', '\t']).len();
        self.is_code.get(start + indent).copied().unwrap_or(false)
    }

    /// The code bytes from the start of `line`, with their offsets.
    fn code_from(&self, line: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
        let start = self.line_starts[line];
        self.text.as_bytes()[start..]
            .iter()
            .enumerate()
            .map(move |(offset, &byte)| (start + offset, byte))
            .filter(|&(offset, _)| self.is_code[offset])
    }

    /// The last line of the item declared on `line`: its `;` outside any
    /// brackets, or, for block items, the brace that closes its body.
    fn end_of(&self, line: usize, block_item: bool) -> Option<usize> {
        let mut depth = 0usize;
        for (offset, byte) in self.code_from(line) {
            match byte {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 && byte == b'}' && block_item {
                        return Some(self.line_of(offset));
                    }
                }
                b';' if depth == 0 => return Some(self.line_of(offset)),
                _ => {}
            }
        }
        None
    }

    /// The last line of the statement (or match arm, or field) that starts
    /// on `line`, staying before `limit`: it ends at a `;` or `,` outside
    /// brackets, or at a closing brace that ends its line and is not
    /// followed by `else` or a method call.
    fn end_of_statement(&self, line: usize, limit: usize, comma_ends: bool) -> Option<usize> {
        let mut depth = 0usize;
        for (offset, byte) in self.code_from(line) {
            let at = self.line_of(offset);
            if at >= limit {
                return None;
            }
            match byte {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    // The enclosing block closes: the statement was its
                    // last expression, without a `;`.
                    let Some(inner) = depth.checked_sub(1) else {
                        return at.checked_sub(1);
                    };
                    depth = inner;
                    if depth == 0 && byte == b'}' && self.block_ends_statement(offset) {
                        return Some(at);
                    }
                }
                b';' if depth == 0 => return Some(at),
                b',' if depth == 0 && comma_ends => return Some(at),
                _ => {}
            }
        }
        None
    }

    /// Whether the `}` at `offset` ends a statement such as `for ... { }`:
    /// nothing but `,` or `;` follows it on its line, and the next line
    /// does not go on with `else`, `.method()` or `?`.
    fn block_ends_statement(&self, offset: usize) -> bool {
        let rest = &self.text[offset + 1..];
        let (this_line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        let line_ends = this_line.trim().trim_end_matches([',', ';']).is_empty();
        let next = after
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or_default();
        line_ends && !next.starts_with("else") && !next.starts_with('.') && !next.starts_with('?')
    }
}

fn follows_identifier(bytes: &[u8], index: usize) -> bool {
    index > 0 && (bytes[index - 1].is_ascii_alphanumeric() || bytes[index - 1] == b'_')
}

/// Length of `"..."` at the start of `bytes`, escapes included.
fn quoted_length(bytes: &[u8]) -> usize {
    let mut index = 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'"' => return index + 1,
            _ => index += 1,
        }
    }
    bytes.len()
}

/// Length of `r"..."` or `r#"..."#` at the start of `bytes`, or 0 when the
/// `r` starts an identifier instead.
fn raw_string_length(bytes: &[u8]) -> usize {
    let hashes = bytes[1..].iter().take_while(|&&byte| byte == b'#').count();
    if bytes.get(1 + hashes) != Some(&b'"') {
        return 0;
    }
    let mut closing = vec![b'"'];
    closing.extend(std::iter::repeat_n(b'#', hashes));
    let body = 2 + hashes;
    bytes[body..]
        .windows(closing.len())
        .position(|window| window == closing.as_slice())
        .map_or(bytes.len(), |at| body + at + closing.len())
}

fn block_comment_length(bytes: &[u8]) -> usize {
    let mut depth = 0;
    let mut index = 0;
    while index + 1 < bytes.len() {
        match &bytes[index..index + 2] {
            b"/*" => {
                depth += 1;
                index += 2;
            }
            b"*/" => {
                depth -= 1;
                index += 2;
                if depth == 0 {
                    return index;
                }
            }
            _ => index += 1,
        }
    }
    bytes.len()
}

/// Length of a character literal such as `'{'` or `'\n'` at the start of
/// `text`, or 0 for a lifetime such as `'a` or `'static`.
fn char_literal_length(text: &str) -> usize {
    let mut chars = text.char_indices().skip(1);
    match chars.next() {
        Some((_, '\\')) => text
            .get(3..)
            .and_then(|rest| rest.find('\''))
            .map_or(0, |at| at + 4),
        Some((_, _)) => match chars.next() {
            Some((at, '\'')) => at + 1,
            _ => 0,
        },
        None => 0,
    }
}
