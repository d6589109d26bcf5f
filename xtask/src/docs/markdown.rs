//! Just enough Markdown for the checks: headings, fenced code blocks, the
//! marker comment above each block, relative links, and inline code.

use std::ops::Range;

/// What the HTML comment right above a code block says about it.
#[derive(Clone, Debug, PartialEq)]
pub enum Marker {
    /// `<!-- source: PATH [ITEM] -->`: project code, equal to that region.
    Source(String),
    /// `<!-- output: SCENARIO -->`: commands and what they print, equal to
    /// what a real run of that scenario prints.
    Output(String),
    /// `<!-- unchecked: why -->`: an illustration that is not project code.
    Unchecked(String),
    /// A comment above the block that is none of the above.
    Unknown(String),
    /// No comment above the block.
    Missing,
}

/// A fenced code block.
#[derive(Clone, Debug)]
pub struct Block {
    pub marker: Marker,
    /// 1-based line of the opening fence, for messages.
    pub line: usize,
    /// The fence's info string, such as `rust`.
    pub language: String,
    /// Spaces before the fence (a block inside a list item); the body lines
    /// carry the same indent in the file.
    pub indent: usize,
    /// The lines between the fences, without the indent.
    pub body: Vec<String>,
    /// 0-based indices of the body lines in the file.
    pub body_lines: Range<usize>,
}

/// A `#` heading outside code blocks.
#[derive(Clone, Debug)]
pub struct Heading {
    pub level: usize,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub headings: Vec<Heading>,
    pub blocks: Vec<Block>,
    /// Relative link targets, with their 1-based lines.
    pub links: Vec<(usize, String)>,
    /// Inline code outside the blocks (`` `cargo run -p step1` ``), with the
    /// 1-based line it starts on. A span cut by a line break reads as one,
    /// with a space for the break, as Markdown renders it.
    pub code_spans: Vec<(usize, String)>,
}

pub fn parse(text: &str) -> Parsed {
    let lines: Vec<&str> = text.lines().collect();
    let mut parsed = Parsed::default();
    let mut prose = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some((fence, indent)) = opening_fence(line) {
            let language = line.trim_start()[fence.len()..].trim().to_string();
            let body_start = index + 1;
            let mut end = body_start;
            while end < lines.len() && !closes(lines[end], &fence) {
                end += 1;
            }
            parsed.blocks.push(Block {
                marker: marker_above(&lines[..index]),
                line: index + 1,
                language,
                indent,
                body: lines[body_start..end]
                    .iter()
                    .map(|body_line| strip_indent(body_line, indent).to_string())
                    .collect(),
                body_lines: body_start..end,
            });
            index = end + 1;
            continue;
        }
        let trimmed = line.trim_start();
        let level = trimmed.bytes().take_while(|&byte| byte == b'#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            parsed.headings.push(Heading {
                level,
                line: index + 1,
            });
        }
        for target in link_targets(line) {
            parsed.links.push((index + 1, target));
        }
        prose.push((index + 1, line));
        index += 1;
    }
    parsed.code_spans = code_spans(&prose);
    parsed
}

/// The inline code of the prose lines: text between two runs of the same
/// number of backticks. A blank line ends a paragraph, and an unclosed span
/// with it.
fn code_spans(prose: &[(usize, &str)]) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    // The opening run's length, the line it is on, and the text so far.
    let mut open: Option<(usize, usize, String)> = None;
    for &(line_number, line) in prose {
        if line.trim().is_empty() {
            open = None;
            continue;
        }
        if let Some((_, _, text)) = open.as_mut() {
            text.push(' ');
        }
        let mut rest = line;
        while !rest.is_empty() {
            let ticks = rest.len() - rest.trim_start_matches('`').len();
            if ticks == 0 {
                let next = rest.find('`').unwrap_or(rest.len());
                if let Some((_, _, text)) = open.as_mut() {
                    text.push_str(&rest[..next]);
                }
                rest = &rest[next..];
                continue;
            }
            match open.take() {
                None => open = Some((ticks, line_number, String::new())),
                Some((opened, start, text)) if opened == ticks => {
                    spans.push((start, text.trim().to_string()));
                }
                Some((opened, start, mut text)) => {
                    text.push_str(&rest[..ticks]);
                    open = Some((opened, start, text));
                }
            }
            rest = &rest[ticks..];
        }
    }
    spans
}

/// The fence (three or more backticks or tildes) and its indent, if `line`
/// opens a code block.
fn opening_fence(line: &str) -> Option<(String, usize)> {
    let trimmed = line.trim_start_matches(' ');
    let indent = line.len() - trimmed.len();
    let first = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = trimmed.chars().take_while(|c| *c == first).count();
    (length >= 3).then(|| (first.to_string().repeat(length), indent))
}

fn closes(line: &str, fence: &str) -> bool {
    let trimmed = line.trim();
    trimmed.starts_with(fence) && trimmed.chars().all(|c| fence.starts_with(c))
}

fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(indent)..]
}

/// The marker in the nearest non-blank line above a block.
fn marker_above(lines_before: &[&str]) -> Marker {
    let Some(above) = lines_before
        .iter()
        .rev()
        .find(|line| !line.trim().is_empty())
    else {
        return Marker::Missing;
    };
    let above = above.trim();
    let Some(comment) = above
        .strip_prefix("<!--")
        .and_then(|rest| rest.strip_suffix("-->"))
    else {
        return Marker::Missing;
    };
    let comment = comment.trim();
    let (kind, rest) = comment.split_once(':').unwrap_or((comment, ""));
    let rest = rest.trim().to_string();
    match kind.trim() {
        "source" => Marker::Source(rest),
        "output" => Marker::Output(rest),
        "unchecked" => Marker::Unchecked(rest),
        _ => Marker::Unknown(comment.to_string()),
    }
}

/// Targets of `[text](target)` links that point inside the repository:
/// not web addresses, not anchors on the same page.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split('#').next().unwrap_or_default().trim();
        let external = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !external {
            targets.push(target.to_string());
        }
        rest = &rest[end..];
    }
    targets
}

/// `text` with the bodies of some blocks replaced, each new body indented
/// like its fence. `replacements` holds (block, new body) pairs.
pub fn replace_bodies(text: &str, replacements: &[(&Block, Vec<String>)]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut result = Vec::with_capacity(lines.len());
    let mut index = 0;
    let mut sorted: Vec<_> = replacements.iter().collect();
    sorted.sort_by_key(|(block, _)| block.body_lines.start);
    for (block, body) in sorted {
        result.extend(
            lines[index..block.body_lines.start]
                .iter()
                .map(|l| l.to_string()),
        );
        let indent = " ".repeat(block.indent);
        result.extend(body.iter().map(|line| {
            if line.is_empty() {
                String::new()
            } else {
                format!("{indent}{line}")
            }
        }));
        index = block.body_lines.end;
    }
    result.extend(lines[index..].iter().map(|l| l.to_string()));
    let mut joined = result.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn inline_code_may_wrap_and_may_hold_backticks() {
        let text = "Run `cargo run -p step1`, or\n`PORT=8081\ncargo run` and ``a ` tick``.\n\n```sh\n`not prose`\n```\n";
        let spans: Vec<(usize, String)> = parse(text).code_spans;
        assert_eq!(
            spans,
            [
                (1, "cargo run -p step1".to_string()),
                (2, "PORT=8081 cargo run".to_string()),
                (3, "a ` tick".to_string()),
            ]
        );
    }
}
