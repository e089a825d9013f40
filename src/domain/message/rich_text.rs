//! `markdownText` → `htmlText`, and `htmlText` → plain `text` for channels without rich text.
//!
//! Deliberately small: headings, **bold**, *italic* / _italic_, `code`, [links](url) and
//! line breaks. Everything else is shown literally, and every character of the input is
//! HTML-escaped first, so markdown can never smuggle markup into a client.

/// Escapes the five characters that matter in HTML text and attribute values.
fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// Converts markdown to HTML (see the module comment for what is understood).
pub fn markdown_to_html(md: &str) -> String {
    let mut out = String::new();
    let mut previous_was_block = true;
    for (i, line) in md.lines().enumerate() {
        let heading = heading_level(line);
        if i > 0 && heading.is_none() && !previous_was_block {
            out.push_str("<br>");
        }
        match heading {
            Some((level, rest)) => {
                out.push_str(&format!("<h{level}>"));
                inline(rest.trim(), &mut out);
                out.push_str(&format!("</h{level}>"));
                previous_was_block = true;
            }
            None => {
                // A line after a heading starts fresh; an empty line after text is one
                // more break, which is what a reader of the raw markdown expects to see.
                inline(line, &mut out);
                previous_was_block = false;
            }
        }
    }
    out
}

/// `# Title` … `###### Title`: the level and the rest of the line.
fn heading_level(line: &str) -> Option<(usize, &str)> {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    let rest = &line[hashes..];
    if (1..=6).contains(&hashes) && rest.starts_with(' ') { Some((hashes, rest)) } else { None }
}

fn inline(text: &str, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '*' && chars.get(i + 1) == Some(&'*') {
            if let Some(end) = find(&chars, i + 2, &['*', '*']) {
                if end > i + 2 {
                    out.push_str("<strong>");
                    inline(&collect(&chars[i + 2..end]), out);
                    out.push_str("</strong>");
                    i = end + 2;
                    continue;
                }
            }
        } else if c == '*' || c == '_' {
            // `_` only opens and closes at word edges, so snake_case_names stay as written.
            let opens = c == '*' || i == 0 || !chars[i - 1].is_alphanumeric();
            if opens {
                if let Some(end) = find(&chars, i + 1, &[c]) {
                    let closes = c == '*' || chars.get(end + 1).is_none_or(|n| !n.is_alphanumeric());
                    if end > i + 1 && closes && !chars[i + 1].is_whitespace() {
                        out.push_str("<em>");
                        inline(&collect(&chars[i + 1..end]), out);
                        out.push_str("</em>");
                        i = end + 1;
                        continue;
                    }
                }
            }
        } else if c == '`' {
            if let Some(end) = find(&chars, i + 1, &['`']) {
                out.push_str("<code>");
                escape(&collect(&chars[i + 1..end]), out);
                out.push_str("</code>");
                i = end + 1;
                continue;
            }
        } else if c == '[' {
            if let Some((label_end, url_end)) = link_at(&chars, i) {
                let url = collect(&chars[label_end + 2..url_end]);
                // Only schemes that cannot run script become links; a `javascript:` URL
                // stays visible text.
                if is_safe_href(&url) {
                    out.push_str("<a href=\"");
                    escape(&url, out);
                    out.push_str("\">");
                    inline(&collect(&chars[i + 1..label_end]), out);
                    out.push_str("</a>");
                    i = url_end + 1;
                    continue;
                }
            }
        }
        escape(&c.to_string(), out);
        i += 1;
    }
}

fn collect(chars: &[char]) -> String {
    chars.iter().collect()
}

/// The first index at or after `from` where `pattern` starts.
fn find(chars: &[char], from: usize, pattern: &[char]) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j..].starts_with(pattern))
}

/// `[label](url)` starting at `start`: the index of `]` and of `)`.
fn link_at(chars: &[char], start: usize) -> Option<(usize, usize)> {
    let label_end = find(chars, start + 1, &[']'])?;
    if chars.get(label_end + 1) != Some(&'(') {
        return None;
    }
    let url_end = find(chars, label_end + 2, &[')'])?;
    let url = &chars[label_end + 2..url_end];
    if url.is_empty() || url.iter().any(|c| c.is_whitespace()) {
        return None;
    }
    Some((label_end, url_end))
}

fn is_safe_href(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["http://", "https://", "mailto:", "tel:"].iter().any(|s| lower.starts_with(s))
}

/// Plain text for channels without rich text: tags dropped, line-ending tags turned into
/// newlines, entities decoded, and a link's target kept next to its text so it is not lost.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::new();
    // (href, where the link text starts in `out`) of the `<a>` being read.
    let mut link: Option<(String, usize)> = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        decode_entities(&rest[..lt], &mut out);
        let Some(gt) = rest[lt..].find('>') else {
            decode_entities(&rest[lt..], &mut out);
            rest = "";
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        match name.as_str() {
            "br" => out.push('\n'),
            "p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "li" | "tr" | "ul" | "ol" | "blockquote" | "pre" if closing => {
                out.push('\n')
            }
            "a" if !closing => link = href(tag).map(|h| (h, out.len())),
            "a" => {
                if let Some((href, start)) = link.take() {
                    if out[start..].trim() != href {
                        out.push_str(&format!(" ({href})"));
                    }
                }
            }
            _ => {}
        }
    }
    decode_entities(rest, &mut out);
    tidy(&out)
}

/// The `href` attribute of an `a` tag, quoted either way.
fn href(tag: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let at = lower.find("href=")? + "href=".len();
    let value = &tag[at..];
    let quote = value.chars().next()?;
    let raw = if quote == '"' || quote == '\'' {
        let end = value[1..].find(quote)?;
        &value[1..1 + end]
    } else {
        value.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("")
    };
    let mut decoded = String::new();
    decode_entities(raw, &mut decoded);
    if decoded.is_empty() { None } else { Some(decoded) }
}

fn decode_entities(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Entity names are short; looking further would rescan the text for every `&`.
        let decoded = after.bytes().take(12).position(|b| b == b';').and_then(|end| entity(&after[..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

fn entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let code = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(hex, 16).ok()?
            } else {
                name.strip_prefix('#')?.parse().ok()?
            };
            char::from_u32(code)
        }
    }
}

/// Trailing spaces off each line, at most one blank line in a row, no blank edges.
fn tidy(s: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in s.lines().map(str::trim_end) {
        if line.is_empty() && lines.last().is_some_and(|l| l.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    lines.join("\n").trim_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_basics_become_html() {
        assert_eq!(markdown_to_html("# Hello!"), "<h1>Hello!</h1>");
        assert_eq!(markdown_to_html("**bold** and *it* and _it_"), "<strong>bold</strong> and <em>it</em> and <em>it</em>");
        assert_eq!(markdown_to_html("see [docs](https://example.org/a?b=1&c=2)"), "see <a href=\"https://example.org/a?b=1&amp;c=2\">docs</a>");
        assert_eq!(markdown_to_html("one\ntwo"), "one<br>two");
        assert_eq!(markdown_to_html("# T\nbody"), "<h1>T</h1>body");
        assert_eq!(markdown_to_html("`a<b`"), "<code>a&lt;b</code>");
    }

    #[test]
    fn markdown_cannot_inject_markup() {
        assert_eq!(markdown_to_html("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
        assert_eq!(markdown_to_html("[x](javascript:alert(1))"), "[x](javascript:alert(1))");
        assert_eq!(markdown_to_html("snake_case_name 2*3"), "snake_case_name 2*3");
    }

    #[test]
    fn html_becomes_plain_text() {
        assert_eq!(html_to_text("<h1>Hello!</h1>"), "Hello!");
        assert_eq!(html_to_text("<p>a &amp; b</p><p>c&#33;</p>"), "a & b\nc!");
        assert_eq!(html_to_text("one<br>two<br/>three"), "one\ntwo\nthree");
        assert_eq!(html_to_text("see <a href=\"https://x.org\">docs</a>"), "see docs (https://x.org)");
        assert_eq!(html_to_text("<a href='https://x.org'>https://x.org</a>"), "https://x.org");
        assert_eq!(html_to_text("1 < 2 & 3"), "1 < 2 & 3");
        assert_eq!(html_to_text(&markdown_to_html("**Hi** [there](https://x.org)")), "Hi there (https://x.org)");
    }
}
