//! A tiny well-formedness checker for the SVG the tests produce: an
//! optional XML declaration, then one root element; balanced tags,
//! well-formed names, double-quoted attributes without duplicates, and
//! text and attribute values whose `&` start a known entity and that
//! carry no raw `<` (nor, stricter than XML, a raw `>`). Comments are
//! skipped. It is a test aid, not a general XML parser.

/// Checks `doc`; returns the number of elements on success, a description
/// of the first problem (with its byte offset) otherwise.
pub fn check(doc: &str) -> Result<usize, String> {
    let b = doc.as_bytes();
    let mut i = 0;
    if doc.starts_with("<?xml") {
        i = doc.find("?>").ok_or("unterminated XML declaration")? + 2;
    }
    let mut stack: Vec<&str> = Vec::new();
    let mut elements = 0;
    let mut roots = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |n| i + n);
            let text = &doc[i..end];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root at {i}: {text:?}"));
            }
            check_text(text, i)?;
            i = end;
            continue;
        }
        if doc[i..].starts_with("<!--") {
            i += doc[i..]
                .find("-->")
                .ok_or(format!("unterminated comment at {i}"))?
                + 3;
            continue;
        }
        if doc[i..].starts_with("</") {
            let (name, next) = name_at(doc, i + 2)?;
            let next = skip_space(b, next);
            if b.get(next) != Some(&b'>') {
                return Err(format!("bad closing tag at {i}"));
            }
            match stack.pop() {
                Some(open) if open == name => {}
                other => return Err(format!("</{name}> at {i} closes {other:?}")),
            }
            i = next + 1;
            continue;
        }
        // An opening or empty-element tag.
        let (name, mut j) = name_at(doc, i + 1)?;
        if stack.is_empty() {
            roots += 1;
            if roots > 1 {
                return Err(format!("a second root element at {i}"));
            }
        }
        elements += 1;
        let mut attrs: Vec<&str> = Vec::new();
        loop {
            let k = skip_space(b, j);
            match b.get(k) {
                Some(b'>') => {
                    stack.push(name);
                    i = k + 1;
                    break;
                }
                Some(b'/') if b.get(k + 1) == Some(&b'>') => {
                    i = k + 2;
                    break;
                }
                Some(_) if k > j => {
                    let (attr, after) = name_at(doc, k)?;
                    if attrs.contains(&attr) {
                        return Err(format!("duplicate attribute {attr} at {k}"));
                    }
                    attrs.push(attr);
                    if b.get(after) != Some(&b'=') || b.get(after + 1) != Some(&b'"') {
                        return Err(format!("attribute {attr} at {k} is not =\"...\""));
                    }
                    let start = after + 2;
                    let end = doc[start..]
                        .find('"')
                        .map(|n| start + n)
                        .ok_or(format!("unterminated attribute {attr} at {k}"))?;
                    check_text(&doc[start..end], start)?;
                    j = end + 1;
                }
                _ => return Err(format!("malformed tag <{name}> at {i}")),
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{open}> never closed"));
    }
    if roots != 1 {
        return Err("no root element".to_string());
    }
    Ok(elements)
}

fn skip_space(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

fn name_at(doc: &str, i: usize) -> Result<(&str, usize), String> {
    let b = doc.as_bytes();
    let mut j = i;
    while b
        .get(j)
        .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b':' | b'-' | b'.'))
    {
        j += 1;
    }
    if j == i || !b[i].is_ascii_alphabetic() {
        return Err(format!("expected a name at {i}"));
    }
    Ok((&doc[i..j], j))
}

fn check_text(text: &str, at: usize) -> Result<(), String> {
    if let Some(n) = text.find(['<', '>']) {
        return Err(format!("unescaped {:?} at {}", &text[n..n + 1], at + n));
    }
    let mut rest = text;
    while let Some(n) = rest.find('&') {
        rest = &rest[n..];
        let end = rest
            .find(';')
            .ok_or(format!("unterminated entity near {at}"))?;
        let entity = &rest[1..end];
        let known = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity
                .strip_prefix('#')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|c| c.is_ascii_digit()));
        if !known {
            return Err(format!("unknown entity &{entity}; near {at}"));
        }
        rest = &rest[end + 1..];
    }
    if let Some(c) = text
        .chars()
        .find(|c| (*c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!("control character {c:?} near {at}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_well_formed_and_rejects_broken_documents() {
        assert_eq!(
            check("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/><c y=\"&amp;\">t &lt;</c></a>\n"),
            Ok(3)
        );
        for bad in [
            "<a><b></a></b>",
            "<a x='1'/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a>&foo;</a>",
            "<a>x < y</a>",
            "<a>x > y</a>",
            "<a>&amp</a>",
            "<a/><b/>",
            "<a>",
            "text<a/>",
            "<a x=\"<\"/>",
        ] {
            assert!(check(bad).is_err(), "accepted {bad:?}");
        }
    }
}
